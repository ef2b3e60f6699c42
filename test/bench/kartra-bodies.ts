import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The story fixture every bench body is made from: a real-shaped ~3 KB outbound buy_product. */
export const PURCHASE_FIXTURE = resolve(__dirname, '../../../shared/kartra/fixtures/outbound/02-buy_product.one-time.dana.json');

export const BENCH_PRODUCT_IDS = ['558475', '558476', '558477', '558478', '558479'];

interface LeadTemplate {
  id: string;
  email: string;
  first_name: string;
  last_name: string;
}

interface PurchaseTemplate {
  lead: LeadTemplate & Record<string, unknown>;
  action_details: { transaction_details: Record<string, string> };
}

/**
 * Makes distinct purchases from the fixture: each has its own transaction id, and the buyers cycle over
 * `leadCount` leads so members are matched (not only created) as in a real launch. Bodies are built lazily
 * so a run never repeats one, however long it lasts.
 */
export function createPurchaseBodies(options: { leadCount: number; firstTransactionId: number }) {
  const fixture = JSON.parse(readFileSync(PURCHASE_FIXTURE, 'utf8')) as PurchaseTemplate;
  let sequence = 0;

  function body(index: number): string {
    const leadNumber = index % options.leadCount;
    const leadId = String(60_000_000 + leadNumber);
    const email = `buyer${leadNumber}@bench.example.com`;
    const productId = BENCH_PRODUCT_IDS[index % BENCH_PRODUCT_IDS.length] ?? '558475';
    const transactionId = String(options.firstTransactionId + index);
    const details = fixture.action_details.transaction_details;
    const purchase = {
      ...fixture,
      lead: { ...fixture.lead, id: leadId, email, first_name: `Buyer${leadNumber}`, last_name: 'Bench' },
      action_details: {
        ...fixture.action_details,
        transaction_details: {
          ...details,
          transaction_id: transactionId,
          lead_id: leadId,
          lead_email: email,
          lead_username: email,
          lead_first_name: `Buyer${leadNumber}`,
          lead_last_name: 'Bench',
          product_id: productId,
        },
      },
    };
    // Indented as the fixture is, which keeps each body near the ~3 KB Kartra sends for a purchase.
    return JSON.stringify(purchase, null, 2);
  }

  return {
    body,
    next: (): string => body(sequence++),
    get issued() {
      return sequence;
    },
  };
}
