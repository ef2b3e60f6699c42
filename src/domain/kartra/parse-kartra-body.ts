import type { ParseResult } from './kartra-event';
import { parseIpnEvent } from './ipn-parser';
import { parseOutboundEvent } from './outbound-parser';
import { readFormFields, type FormField } from './form-fields';
import type { WireRecord } from './kartra-values';

/**
 * Turns a raw webhook body into a typed event. Kartra documents no Content-Type for either channel, so the body's
 * shape decides: JSON is the Outbound API, a form is IPN. The Content-Type is consulted only to find a multipart
 * boundary.
 */
export function parseKartraBody(rawBody: Buffer, contentType: string | undefined, timeZone: string): ParseResult {
  const text = rawBody.toString('utf8');
  const trimmed = text.trim();
  if (trimmed === '') {
    return { ok: false, channel: 'unknown', error: 'empty body', issues: [] };
  }
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      return { ok: false, channel: 'outbound', error: `body is not valid JSON: ${(error as Error).message}`, issues: [] };
    }
    return parseOutboundEvent(json, timeZone);
  }
  const form = readFormFields(text, contentType);
  if (!form) {
    return { ok: false, channel: 'unknown', error: 'body is neither JSON nor a form post', issues: [] };
  }
  return parseIpnEvent(firstValues(form), timeZone);
}

/** The first value wins: a repeated key must not let a later copy override what Kartra put first. */
function firstValues(form: FormField[]): WireRecord {
  const fields = Object.create(null) as Record<string, string>;
  for (const { name, value } of form) if (!(name in fields)) fields[name] = value;
  return fields;
}
