import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Kartra's inbound API (POST https://app.kartra.com/api) on loopback, answering as ../shared/kartra/inbound-api/
 * README.md says Kartra does: a form body with PHP bracket keys in, JSON served as text/html with HTTP 200 out
 * (errors included), `type` as a string, transaction lists lower-case and `get_lead`'s transactions capitalised,
 * amounts as strings, dates "YYYY-MM-DD HH:MM:SS" in the account's time zone. It is the reference the reconcile is
 * tested against: keep it to what the README documents or observed clients saw, and say so where it guesses.
 */

export type FakeTransactionType = 'sale' | 'rebill' | 'refund' | 'chargeback' | 'cancellation' | 'failed' | 'partial_refund';

export interface FakeLead {
  id: string;
  email: string;
  firstName?: string;
  lastName?: string;
  tags?: string[];
  memberships?: { membershipId: string; membershipName: string; levelId: string; levelName: string; active: boolean; grantedAt?: string }[];
}

export interface FakeTransaction {
  transactionId: string;
  type: FakeTransactionType;
  productId: string;
  productName?: string;
  /** As Kartra writes it: "27.00". Omitted when not given (a cancellation carries no amount, sample A). */
  amount?: string;
  /** "YYYY-MM-DD HH:MM:SS" in the account's time zone; now, in that zone, when not given. */
  date?: string;
  /** The subscription's first order; "0" (Kartra's "none") when not given. */
  originalId?: string;
}

export interface FakeKartraCall {
  cmd: string;
  /** `id:<lead id>` or `email:<address>`, as the request named the lead. */
  leadRef?: string;
  transactionId?: string;
  at: number;
}

export type FakeFailure = 'rate_limit' | 'http_500' | 'hang' | { type: string; message: string };

export interface FakeKartraOptions {
  appId: string;
  apiKey: string;
  apiPassword: string;
  /** The account's time zone, for the dates the fake makes up. America/New_York by default (Kartra's "EST"). */
  timeZone?: string;
  /** The account's lists, for retrieve_account_lists. */
  lists?: string[];
  /** Send transaction_list, transaction_details and lead_details as JSON-encoded strings, the type Kartra documents. */
  jsonStrings?: boolean;
}

export interface FakeKartra {
  url: string;
  addLead(lead: FakeLead): void;
  addTransaction(leadId: string, transaction: FakeTransaction): void;
  /** Every command asked for, in order (one entry per action); never the credentials. */
  calls: FakeKartraCall[];
  /** The next `count` requests fail that way, whatever they ask. */
  failNext(count: number, how: FakeFailure): void;
  /** How transaction commands answer: `{"status":"Success","actions":[{"<cmd>":…}]}` (default) or the documented bare `{"<cmd>":…}`. */
  setTransactionWrapper(wrapper: 'actions' | 'bare'): void;
  /** These commands answer 262 "App does not have permission to execute this CMD". */
  setPermissionDenied(cmds: string[]): void;
  close(): Promise<void>;
}

type Answer = Record<string, unknown>;

/** Kartra's verbatim connection errors (README §7) and the other bodies the README quotes. */
const ERRORS = {
  emptyKey: { status: 'Error', message: 'API key cannot be empty. Please get an API key first', type: '202' },
  badKey: { status: 'Error', message: 'API key not valid. Please get an API key first', type: '203' },
  badPassword: { status: 'Error', message: 'API password not valid. Please get an API password first', type: '233' },
  // README §5 lists 238–240 as App errors without their text: this message is ours.
  badApp: { status: 'Error', message: 'App ID not valid', type: '238' },
  noLead: { status: 'Error', message: 'No lead found', type: '234' },
  noTransaction: { status: 'Error', message: "Transaction doesn't exist", type: '247' },
  permission: { status: 'Error', message: 'App does not have permission to execute this CMD', type: '262' },
  tooMany: { status: 'Error', message: 'Too many requests', type: '429' },
  // Kartra documents no answer for an unknown cmd: this one is ours (the client recognises "invalid … command").
  unknownCommand: { status: 'Error', message: 'Invalid command', type: '999' },
} as const;

/** Kartra's hardcoded limit: 20 calls per second per App (README §1). */
const CALLS_PER_SECOND = 20;

export async function startFakeKartra(options: FakeKartraOptions): Promise<FakeKartra> {
  const timeZone = options.timeZone ?? 'America/New_York';
  const lists = options.lists ?? ['Newsletter', 'Webinar Registrants'];
  const leads = new Map<string, FakeLead>();
  const transactions = new Map<string, (FakeTransaction & { date: string; originalId: string })[]>();
  const calls: FakeKartraCall[] = [];
  const failures: FakeFailure[] = [];
  const denied = new Set<string>();
  const recentStarts: number[] = [];
  let wrapper: 'actions' | 'bare' = 'actions';

  const encoded = (value: unknown) => (options.jsonStrings ? JSON.stringify(value) : value);

  function findLead(ref: Record<string, unknown> | undefined): FakeLead | undefined {
    // "If both are provided, the system will prioritize the ID."
    if (typeof ref?.id === 'string') return leads.get(ref.id);
    if (typeof ref?.email === 'string') return [...leads.values()].find((lead) => lead.email.toLowerCase() === String(ref.email).toLowerCase());
    return undefined;
  }

  function transactionAnswer(cmd: string, result: Answer): Answer {
    return wrapper === 'bare' ? { [cmd]: result } : { status: 'Success', actions: [{ [cmd]: result }] };
  }

  function answerAction(cmd: string, action: Record<string, unknown>, leadRef: Record<string, unknown> | undefined): Answer {
    if (denied.has(cmd)) return ERRORS.permission;
    if (cmd === 'retrieve_account_lists') return { status: 'Success', account_lists: lists };
    if (cmd === 'get_transaction_details') {
      const id = String(action.transaction_id ?? '');
      for (const [leadId, rows] of transactions) {
        const row = rows.find((candidate) => candidate.transactionId === id);
        const lead = leads.get(leadId);
        if (!row || !lead) continue;
        // The documented fields "for sale transactions" (README §4.4), plus the date (the stored page is cut off).
        const details = {
          transaction_id: row.transactionId,
          lead_id: lead.id,
          lead_email: lead.email,
          lead_first_name: lead.firstName ?? '',
          lead_last_name: lead.lastName ?? '',
          product_id: row.productId,
          product_name: row.productName ?? '',
          product_price_point: '',
          transaction_full_amount: row.amount ?? '0.00',
          transaction_quantity: '1',
          transaction_date: row.date,
        };
        return transactionAnswer(cmd, { transaction_details: encoded(details) });
      }
      return ERRORS.noTransaction;
    }
    if (cmd === 'retrieve_transactions_from_lead' || cmd === 'get_transactions_from_lead') {
      const lead = findLead(leadRef);
      if (!lead) return ERRORS.noLead;
      const rows = transactions.get(lead.id) ?? [];
      const list =
        cmd === 'retrieve_transactions_from_lead'
          ? // Documented (§4.3): id, lead and type only.
            rows.map((row) => ({ transaction_id: row.transactionId, lead_id: lead.id, lead_email: lead.email, transaction_type: row.type }))
          : // As Product List Genie read it (sample A): product, amount, date and original order, no transaction id.
            rows.map((row) => ({
              transaction_type: row.type,
              product_id: row.productId,
              product_name: row.productName ?? '',
              ...(row.amount === undefined ? {} : { transaction_full_amount: row.amount }),
              transaction_date: row.date,
              original_id: row.originalId,
            }));
      return transactionAnswer(cmd, { transaction_list: encoded(list) });
    }
    return ERRORS.unknownCommand;
  }

  function getLeadAnswer(ref: Record<string, unknown>): Answer {
    if (denied.has('get_lead')) return ERRORS.permission;
    const lead = findLead(ref);
    if (!lead) return ERRORS.noLead;
    const details = {
      id: lead.id,
      email: lead.email,
      first_name: lead.firstName ?? '',
      last_name: lead.lastName ?? '',
      tags: (lead.tags ?? []).map((tag) => ({ tag_name: tag })),
      memberships: (lead.memberships ?? []).map((membership) => ({
        membership_id: membership.membershipId,
        membership_name: membership.membershipName,
        level_id: membership.levelId,
        level_name: membership.levelName,
        active: membership.active ? '1' : '0',
        granted_at: membership.grantedAt ?? kartraNow(timeZone),
      })),
      // Capitalised here, as dementia-caregiver-app saw them (sample C).
      transactions: (transactions.get(lead.id) ?? []).map((row) => ({ transaction_type: capitalise(row.type) })),
    };
    return { status: 'Success', lead_details: encoded(details) };
  }

  function answer(form: Record<string, unknown>): Answer {
    if (!form.api_key) return ERRORS.emptyKey;
    if (form.api_key !== options.apiKey) return ERRORS.badKey;
    if (form.api_password !== options.apiPassword) return ERRORS.badPassword;
    if (form.app_id !== options.appId) return ERRORS.badApp;
    const getLead = asRecord(form.get_lead);
    if (getLead) return getLeadAnswer(getLead);
    const actions = asList(form.actions);
    if (actions.length === 0) return ERRORS.unknownCommand;
    const leadRef = asRecord(form.lead);
    const results = actions.map((action) => ({ cmd: String(action.cmd ?? ''), result: answerAction(String(action.cmd ?? ''), action, leadRef) }));
    // One action is answered as is (errors flat at the top level); a chain as Kartra's per-action objects (sample G).
    if (results.length === 1 && results[0]) return results[0].result;
    return { status: 'Success', actions: results.map(({ cmd, result }) => ({ [cmd]: result })) };
  }

  function record(form: Record<string, unknown>): void {
    const at = Date.now();
    const getLead = asRecord(form.get_lead);
    if (getLead) {
      calls.push({ cmd: 'get_lead', leadRef: leadRefOf(getLead), at });
      return;
    }
    const leadRef = leadRefOf(asRecord(form.lead));
    for (const action of asList(form.actions)) {
      const transactionId = typeof action.transaction_id === 'string' ? action.transaction_id : undefined;
      calls.push({ cmd: String(action.cmd ?? ''), ...(leadRef ? { leadRef } : {}), ...(transactionId ? { transactionId } : {}), at });
    }
  }

  function overTheLimit(now: number): boolean {
    while (recentStarts.length > 0 && (recentStarts[0] ?? 0) <= now - 1000) recentStarts.shift();
    recentStarts.push(now);
    return recentStarts.length > CALLS_PER_SECOND;
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = parseBracketForm(Buffer.concat(chunks).toString('utf8'));
      record(form);
      const failure = failures.shift();
      if (failure === 'hang') return; // never answered; close() drops the connection
      if (failure === 'http_500') return void res.writeHead(500, { 'content-type': 'text/html; charset=UTF-8' }).end('<h1>Internal Server Error</h1>');
      if (failure === 'rate_limit' || overTheLimit(Date.now())) return send(res, ERRORS.tooMany, 429);
      if (failure) return send(res, { status: 'Error', message: failure.message, type: failure.type });
      send(res, answer(form));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/api`,
    calls,
    addLead(lead) {
      leads.set(lead.id, lead);
    },
    addTransaction(leadId, transaction) {
      const rows = transactions.get(leadId) ?? [];
      rows.push({ ...transaction, date: transaction.date ?? kartraNow(timeZone), originalId: transaction.originalId ?? '0' });
      transactions.set(leadId, rows);
    },
    failNext(count, how) {
      for (let i = 0; i < count; i += 1) failures.push(how);
    },
    setTransactionWrapper(next) {
      wrapper = next;
    },
    setPermissionDenied(cmds) {
      denied.clear();
      for (const cmd of cmds) denied.add(cmd);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Kartra serves JSON as text/html with HTTP 200, errors included (README §1); only "Too many requests" is a 429. */
function send(res: ServerResponse, body: Answer, status = 200): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=UTF-8' }).end(JSON.stringify(body));
}

/** `lead[email]=…&actions[0][cmd]=…` into `{ lead: { email }, actions: { 0: { cmd } } }`, as PHP reads it. */
export function parseBracketForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const [head = '', ...rest] = key.split('[');
    const path = [head, ...rest.map((part) => part.replace(/\]$/, ''))];
    let node = root;
    path.forEach((segment, index) => {
      if (index === path.length - 1) {
        node[segment] = value;
        return;
      }
      const next = node[segment];
      node = typeof next === 'object' && next !== null ? (next as Record<string, unknown>) : (node[segment] = {});
    });
  }
  return root;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** `actions[0]`, `actions[1]`… in index order. */
function asList(value: unknown): Record<string, unknown>[] {
  const record = asRecord(value);
  if (!record) return [];
  return Object.keys(record)
    .sort((a, b) => Number(a) - Number(b))
    .map((key) => asRecord(record[key]))
    .filter((item): item is Record<string, unknown> => item !== undefined);
}

function leadRefOf(ref: Record<string, unknown> | undefined): string | undefined {
  if (typeof ref?.id === 'string') return `id:${ref.id}`;
  if (typeof ref?.email === 'string') return `email:${ref.email}`;
  return undefined;
}

function capitalise(type: string): string {
  return type.charAt(0).toUpperCase() + type.slice(1);
}

/** Now as Kartra writes it: "YYYY-MM-DD HH:MM:SS" on the account's wall clock. */
export function kartraNow(timeZone: string, now = new Date()): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
      .formatToParts(now)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}
