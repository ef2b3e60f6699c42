import { z } from 'zod';
import type { ParseNote } from './kartra-event';

/**
 * Kartra encodes "nothing" three ways ("N/A" on IPN, "" and null elsewhere) and sends numbers as strings while its
 * docs say integer (REFERENCE.md §13). These readers accept every form and normalise to one.
 */

export type WireRecord = Readonly<Record<string, unknown>>;

export function isWireRecord(value: unknown): value is WireRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMissing(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value !== 'string') return false;
  const trimmed = value.trim();
  return trimmed === '' || trimmed.toUpperCase() === 'N/A';
}

const textValue = z.union([z.string(), z.number(), z.boolean()]).transform((value) => String(value).trim());
const identifierValue = z
  .union([z.string().trim().regex(/^[A-Za-z0-9_.:@-]{1,128}$/), z.number().int().nonnegative().transform(String)])
  .transform((value) => (/^\d+$/.test(value) ? value.replace(/^0+(?=\d)/, '') : value));
const integerValue = z.union([
  z.number().int().safe(),
  z
    .string()
    .trim()
    .regex(/^-?\d{1,15}$/)
    .transform(Number),
]);
const decimalValue = z.union([
  z.number().finite(),
  z
    .string()
    .trim()
    .regex(/^-?\d{1,13}(\.\d+)?$/)
    .transform(Number),
]);
const amountCentsValue = decimalValue
  .refine((amount) => Math.abs(amount) < 1e13, 'amount out of range')
  .transform((amount) => Math.round(amount * 100));

/** Own property only: a body's `__proto__` or `constructor` key is data, never the prototype. */
function ownValue(record: WireRecord, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export class FieldReader {
  constructor(
    private readonly fields: WireRecord,
    private readonly path: string,
    private readonly notes: ParseNote[],
  ) {}

  private read<T>(keys: readonly string[], schema: z.ZodType<T>): T | undefined {
    for (const key of keys) {
      const raw = ownValue(this.fields, key);
      if (isMissing(raw)) continue;
      const parsed = schema.safeParse(raw);
      if (parsed.success) return parsed.data;
      this.notes.push({
        path: `${this.path}${key}`,
        message: `unreadable value (${describe(raw)}); treated as missing`,
      });
    }
    return undefined;
  }

  text(...keys: string[]): string | undefined {
    const value = this.read(keys, textValue);
    return value === '' ? undefined : value;
  }

  identifier(...keys: string[]): string | undefined {
    const value = this.read(keys, identifierValue);
    // Kartra sends 0 for "no parent order" and "no original order".
    return value === '0' ? undefined : value;
  }

  /**
   * The first of `keys` that holds a usable email address, trimmed and lower-cased. One that is no address is noted
   * and the next key tried, so a garbled current value still falls back to a legacy copy.
   */
  email(...keys: string[]): string | undefined {
    for (const key of keys) {
      const raw = this.text(key);
      if (raw === undefined) continue;
      const email = normaliseEmail(raw);
      if (email) return email;
      this.notes.push({ path: `${this.path}${key}`, message: 'not an email address; ignored' });
    }
    return undefined;
  }

  integer(...keys: string[]): number | undefined {
    return this.read(keys, integerValue);
  }

  amountCents(...keys: string[]): number | undefined {
    return this.read(keys, amountCentsValue);
  }

  record(key: string): FieldReader | undefined {
    const raw = ownValue(this.fields, key);
    if (!isWireRecord(raw)) {
      if (!isMissing(raw)) this.notes.push({ path: `${this.path}${key}`, message: `expected an object, got ${describe(raw)}` });
      return undefined;
    }
    return new FieldReader(raw, `${this.path}${key}.`, this.notes);
  }

  /** The first nested object, for events whose details are wrapped in an object named after the asset. */
  firstRecord(): { key: string; reader: FieldReader } | undefined {
    for (const [key, value] of Object.entries(this.fields)) {
      if (isWireRecord(value)) return { key, reader: new FieldReader(value, `${this.path}${key}.`, this.notes) };
    }
    return undefined;
  }

  keys(): string[] {
    return Object.keys(this.fields);
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  return typeof value;
}

export function normaliseEmail(email: string | undefined): string | undefined {
  if (email === undefined) return undefined;
  const normalised = email.trim().toLowerCase();
  // Deliberately loose: Kartra owns address validation; we only refuse what cannot be an address.
  return /^[^\s@]+@[^\s@]+$/.test(normalised) && normalised.length <= 320 ? normalised : undefined;
}
