import {
  getLeadRequest,
  isUnknownCommandFailure,
  parseGetLeadAnswer,
  parseTestConnectionAnswer,
  parseTransactionDetailsAnswer,
  parseTransactionsAnswer,
  saysTooManyRequests,
  testConnectionRequest,
  toApiResult,
  transactionDetailsRequest,
  transactionsRequest,
  withTransactionDetails,
  type KartraAnswer,
  type KartraFormFields,
} from '../domain/kartra/inbound-api';
import type { KartraApi, KartraApiCredentials, KartraLeadRef, KartraTransaction } from '../domain/ports';

export interface KartraApiClientOptions {
  /** https://app.kartra.com/api in production; the fake's loopback URL in tests. */
  url: string;
  timeoutMs: number;
  /** The account's time zone (KARTRA_TIMEZONE), in which Kartra's naive times are read. */
  timeZone: string;
  fetchImpl?: typeof fetch;
  /** Wait after a "Too many requests" (Kartra: "wait 1 second and re-try"). */
  retryDelayMs?: number;
  /** Least time between two call starts: 55 ms keeps one client under Kartra's 20 calls per second per App. */
  minSpacingMs?: number;
}

const RATE_LIMIT_RETRIES = 2;
/** Details are fetched one call per transaction: a lead with a long history costs at most this many calls. */
const DETAILS_PER_LEAD = 100;

/** What one HTTP exchange gave: Kartra's text, or why there was none. */
type Exchange = { ok: true; text: string } | { ok: false; kind: 'rate_limited' | 'unavailable'; message: string };

/**
 * The KartraApi port over Node's fetch. Every request is a form POST (Kartra reads PHP bracket keys; a JSON body is
 * refused without query-string credentials, README §1); the answer is read as text whatever its content type and
 * handed to the pure readers of domain/kartra/inbound-api.ts. Messages never hold the credentials: they travel only in
 * the body, and no message quotes the body we sent.
 */
export function createKartraApiClient(options: KartraApiClientOptions): KartraApi {
  const fetchImpl = options.fetchImpl ?? fetch;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const minSpacingMs = options.minSpacingMs ?? 55;
  let nextStartAt = 0;

  /** Spaces call starts by minSpacingMs; concurrent callers take the next free slots in turn. */
  async function throttle(): Promise<void> {
    const now = Date.now();
    const startAt = Math.max(now, nextStartAt);
    nextStartAt = startAt + minSpacingMs;
    if (startAt > now) await sleep(startAt - now);
  }

  async function postOnce(fields: KartraFormFields): Promise<Exchange> {
    await throttle();
    const signal = AbortSignal.timeout(options.timeoutMs);
    try {
      const response = await fetchImpl(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json, text/html', 'user-agent': 'kartra-access' },
        body: new URLSearchParams(fields).toString(),
        redirect: 'manual',
        signal,
      });
      if (response.status === 429) {
        await response.body?.cancel().catch(() => undefined);
        return { ok: false, kind: 'rate_limited', message: 'Kartra answered 429 Too many requests' };
      }
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        return { ok: false, kind: 'unavailable', message: `Kartra answered HTTP ${response.status}` };
      }
      const text = await response.text();
      if (saysTooManyRequests(text)) return { ok: false, kind: 'rate_limited', message: 'Kartra answered "Too many requests"' };
      return { ok: true, text };
    } catch (error) {
      const message = signal.aborted ? `no answer from Kartra within ${options.timeoutMs} ms` : networkMessage(error);
      return { ok: false, kind: 'unavailable', message };
    }
  }

  /** One call, retried after a wait while Kartra says "Too many requests" (at most RATE_LIMIT_RETRIES times). */
  async function call<T>(fields: KartraFormFields, read: (text: string) => KartraAnswer<T>): Promise<KartraAnswer<T>> {
    for (let attempt = 0; ; attempt += 1) {
      const exchange = await postOnce(fields);
      if (exchange.ok) return read(exchange.text);
      if (exchange.kind !== 'rate_limited' || attempt >= RATE_LIMIT_RETRIES) {
        const message = exchange.kind === 'rate_limited' ? `${exchange.message} ${attempt + 1} times` : exchange.message;
        return { ok: false, kind: exchange.kind, message, kartraType: null };
      }
      await sleep(retryDelayMs);
    }
  }

  async function listTransactions(credentials: KartraApiCredentials, lead: KartraLeadRef, command: 'retrieve_transactions_from_lead' | 'get_transactions_from_lead') {
    return call(transactionsRequest(credentials, lead, command), (text) => parseTransactionsAnswer(text, command, options.timeZone));
  }

  /**
   * The documented list has only id and type per row; each row without a product is completed from
   * get_transaction_details, one call at a time through the throttle. Past DETAILS_PER_LEAD rows, the newest are
   * completed (they decide today's access) and the oldest stay as listed.
   */
  async function withDetails(credentials: KartraApiCredentials, rows: KartraTransaction[]): Promise<KartraAnswer<KartraTransaction[]>> {
    const completed = [...rows];
    const wanted = rows
      .map((row, index) => ({ row, index }))
      .filter(({ row }) => row.transactionId !== null && row.productId === null)
      .slice(-DETAILS_PER_LEAD);
    for (const { row, index } of wanted) {
      const details = await call(transactionDetailsRequest(credentials, row.transactionId ?? ''), (text) => parseTransactionDetailsAnswer(text, options.timeZone));
      if (!details.ok) return details;
      if (details.value) completed[index] = withTransactionDetails(row, details.value);
    }
    return { ok: true, value: completed };
  }

  return {
    async testConnection(credentials) {
      return toApiResult(await call(testConnectionRequest(credentials), parseTestConnectionAnswer));
    },

    async getLead(credentials, lead) {
      return toApiResult(await call(getLeadRequest(credentials, lead), parseGetLeadAnswer));
    },

    async transactionsOfLead(credentials, lead) {
      const listed = await listTransactions(credentials, lead, 'retrieve_transactions_from_lead');
      // The App may lack the permission for the documented command (262), or an account may not know it: the
      // undocumented one, in production use, carries the product, amount and date but no transaction ids.
      if (!listed.ok && (listed.kind === 'permission' || isUnknownCommandFailure(listed))) {
        return toApiResult(await listTransactions(credentials, lead, 'get_transactions_from_lead'));
      }
      if (!listed.ok || listed.value === null) return toApiResult(listed);
      const detailed = await withDetails(credentials, listed.value);
      if (!detailed.ok && detailed.kind === 'permission') {
        // Without get_transaction_details, the undocumented list is the only source of products and amounts.
        const fallback = await listTransactions(credentials, lead, 'get_transactions_from_lead');
        return toApiResult(fallback.ok ? fallback : detailed);
      }
      return toApiResult(detailed);
    },
  };
}

/** A short reason for no answer: never the request (it holds the credentials), only the system error code. */
function networkMessage(error: unknown): string {
  // Duck-typed: under jest, fetch's errors come from another realm and fail `instanceof Error`.
  const cause = typeof error === 'object' && error !== null ? (error as { cause?: { code?: unknown } }).cause : undefined;
  const code = typeof cause?.code === 'string' && /^[A-Z_]{2,40}$/.test(cause.code) ? ` (${cause.code})` : '';
  return `could not reach Kartra${code}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
