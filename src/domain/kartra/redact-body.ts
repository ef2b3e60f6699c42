import { everyFormReading } from './form-fields';

/** The parser reads the field named exactly `secret_key`; masking also takes other cases and stray spaces. */
const isSecretName = (name: string) => name.trim().toLowerCase() === 'secret_key';

/**
 * The IPN body carries the vendor's `secret_key` in clear. Stored bodies keep it (they are the evidence), but
 * anything shown to an admin or an API client passes through here first.
 *
 * Masking is driven by the parser's own form decoders (form-fields.ts): every field that a reading of the body
 * decodes to `secret_key` has its value masked where it stands in the text, however the name was spelled on the wire.
 * Two patterns back that up for text no form reading sees, such as a `secret_key` inside JSON.
 */
export function redactKartraBody(text: string, contentType?: string): string {
  const spans = everyFormReading(text, contentType)
    .filter((field) => isSecretName(field.name))
    .map((field) => [field.valueStart, field.valueEnd] as const)
    .sort((a, b) => a[0] - b[0]);
  let masked = '';
  let at = 0;
  for (const [start, end] of spans) {
    if (start >= at) {
      masked += `${text.slice(at, start)}[redacted]`;
      at = end;
    } else if (end > at) {
      // Overlaps the span just masked (two readings of one field): hide the rest of it too.
      at = end;
    }
  }
  masked += text.slice(at);
  return (
    masked
      .replace(/(^|[&\r\n])(secret_key=)[^&\r\n]*/g, '$1$2[redacted]')
      // JSON: a string value (escapes included) or a bare number, boolean or other scalar.
      .replace(/("secret_key"\s*:\s*)(?:"(?:[^"\\]|\\.)*"|[^,}\]\s]+)/g, '$1"[redacted]"')
  );
}
