import type { ParseResult } from './kartra-event';
import { parseIpnEvent } from './ipn-parser';
import { parseOutboundEvent } from './outbound-parser';
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
  // A multipart body is recognised by its boundary line as well as by its header, and a body the header calls
  // multipart but that is not falls back to urlencoded: the body's shape decides, never the header alone.
  const boundaries = [multipartBoundary(contentType), sniffedBoundary(text)].filter((boundary) => boundary !== undefined);
  const multipart = boundaries.map((boundary) => decodeMultipart(text, boundary)).find((found) => found !== undefined);
  const fields = multipart ?? decodeUrlEncoded(trimmed);
  if (!fields) {
    return { ok: false, channel: 'unknown', error: 'body is neither JSON nor a form post', issues: [] };
  }
  return parseIpnEvent(fields, timeZone);
}

function prototypeFreeRecord(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

function decodeUrlEncoded(text: string): WireRecord | undefined {
  if (!/^[^=&\s]+=/.test(text)) return undefined;
  const fields = prototypeFreeRecord();
  for (const [key, value] of new URLSearchParams(text)) {
    // The first value wins: a repeated key must not let a later copy override what Kartra put first.
    if (!(key in fields)) fields[key] = value;
  }
  return fields;
}

function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return undefined;
  const match = /boundary=(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

/** A multipart body opens with "--<boundary>" on its own line (RFC 2046 §5.1.1; the preamble is empty in practice). */
function sniffedBoundary(text: string): string | undefined {
  return /^--([0-9A-Za-z'()+_,./:=?-]{1,70})\r?\n/.exec(text)?.[1];
}

/** Text fields of a multipart/form-data body (RFC 7578); file parts are not expected from Kartra and are skipped. */
function decodeMultipart(text: string, boundary: string): WireRecord | undefined {
  const fields = prototypeFreeRecord();
  let found = false;
  // What precedes the first delimiter is the preamble (RFC 2046 §5.1.1), never a field; a body without the
  // delimiter therefore yields no fields, which lets a wrong boundary in the header fall through.
  for (const part of text.split(`--${boundary}`).slice(1)) {
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd < 0) continue;
    const headers = part.slice(0, headerEnd);
    const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
    if (!name || /\bfilename=/i.test(headers)) continue;
    const value = part.slice(headerEnd + 4).replace(/\r\n$/, '');
    if (!(name in fields)) fields[name] = value;
    found = true;
  }
  return found ? fields : undefined;
}
