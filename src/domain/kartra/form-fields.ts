/**
 * The form decoders of an IPN body, urlencoded and multipart, written once for two readers: the parser, which reads
 * the fields, and the redaction of what admins see, which masks the value of every field the parser would read as the
 * `secret_key`. Both see the same names at the same places, so no spelling the parser accepts (`secret%5Fkey=`, a
 * leading space, `NAME="secret_key"` in a part's headers) shows the secret in clear.
 */
export interface FormField {
  /** The decoded name, as the parser looks it up. */
  name: string;
  value: string;
  /** Where the value's text (before decoding) starts and ends in the body's text. */
  valueStart: number;
  valueEnd: number;
}

/**
 * The fields of a form body as the parser reads it. A multipart body is recognised by its boundary line as well as by
 * its header, and a body the header calls multipart but that is not falls back to urlencoded: the body's shape decides,
 * never the header alone. Undefined when the body is no form.
 */
export function readFormFields(text: string, contentType: string | undefined): FormField[] | undefined {
  for (const boundary of [multipartBoundary(contentType), sniffedBoundary(text)]) {
    if (boundary === undefined) continue;
    const fields = decodeMultipart(text, boundary);
    if (fields.length > 0) return fields;
  }
  return decodeUrlEncoded(text);
}

/**
 * Every field of every reading of `text` that could apply (multipart by the header's boundary, by the sniffed one,
 * and urlencoded): for masking, which errs on the side of hiding too much.
 */
export function everyFormReading(text: string, contentType: string | undefined): FormField[] {
  const boundaries = [multipartBoundary(contentType), sniffedBoundary(text)].filter((boundary) => boundary !== undefined);
  return [...boundaries.flatMap((boundary) => decodeMultipart(text, boundary)), ...(decodeUrlEncoded(text) ?? [])];
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * application/x-www-form-urlencoded per the WHATWG URL Standard §5.1, as URLSearchParams decodes it: `+` is a space,
 * `%XX` a byte, anything else itself, and the bytes are read as UTF-8 (an invalid sequence becomes U+FFFD).
 */
export function decodeFormComponent(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  const bytes = Buffer.from(raw.replace(/\+/g, ' '), 'utf8');
  const out = Buffer.alloc(bytes.length);
  let length = 0;
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] as number;
    if (byte === 0x25 && index + 2 < bytes.length && isHex(bytes[index + 1]) && isHex(bytes[index + 2])) {
      out[length++] = parseInt(String.fromCharCode(bytes[index + 1] as number, bytes[index + 2] as number), 16);
      index += 2;
    } else {
      out[length++] = byte;
    }
  }
  return utf8.decode(out.subarray(0, length));
}

function isHex(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
}

/** A urlencoded body starts with a name and `=`, after any white space around the whole body. */
function decodeUrlEncoded(text: string): FormField[] | undefined {
  const start = text.length - text.trimStart().length;
  const end = text.trimEnd().length;
  if (start >= end || !/^[^=&\s]+=/.test(text.slice(start, end))) return undefined;
  const fields: FormField[] = [];
  let at = start;
  while (at <= end) {
    const next = text.indexOf('&', at);
    const sequenceEnd = next < 0 || next > end ? end : next;
    if (sequenceEnd > at) {
      const equals = text.indexOf('=', at);
      const hasValue = equals >= 0 && equals < sequenceEnd;
      const nameEnd = hasValue ? equals : sequenceEnd;
      const valueStart = hasValue ? equals + 1 : sequenceEnd;
      fields.push({
        name: decodeFormComponent(text.slice(at, nameEnd)),
        value: decodeFormComponent(text.slice(valueStart, sequenceEnd)),
        valueStart,
        valueEnd: sequenceEnd,
      });
    }
    at = sequenceEnd + 1;
  }
  return fields;
}

function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/form-data/i.test(contentType)) return undefined;
  const match = /boundary=(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

/** A multipart body opens with "--<boundary>" on its own line (RFC 2046 §5.1.1; the preamble is empty in practice). */
function sniffedBoundary(text: string): string | undefined {
  return /^--([0-9A-Za-z'()+_,./:=?-]{1,70})\r?\n/.exec(text)?.[1];
}

/**
 * Text fields of a multipart/form-data body (RFC 7578); file parts are not expected from Kartra and are skipped. What
 * precedes the first delimiter is the preamble (RFC 2046 §5.1.1), never a field; a body without the delimiter
 * therefore yields no fields, which lets a wrong boundary in the header fall through.
 */
function decodeMultipart(text: string, boundary: string): FormField[] {
  const delimiter = `--${boundary}`;
  const fields: FormField[] = [];
  let partStart = text.indexOf(delimiter);
  while (partStart >= 0) {
    partStart += delimiter.length;
    const next = text.indexOf(delimiter, partStart);
    const partEnd = next < 0 ? text.length : next;
    const headerEnd = text.indexOf('\r\n\r\n', partStart);
    if (headerEnd >= 0 && headerEnd < partEnd) {
      const headers = text.slice(partStart, headerEnd);
      const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
      if (name && !/\bfilename=/i.test(headers)) {
        const valueStart = headerEnd + 4;
        const valueEnd = partEnd - (text.startsWith('\r\n', partEnd - 2) && partEnd - 2 >= valueStart ? 2 : 0);
        fields.push({ name, value: text.slice(valueStart, valueEnd), valueStart, valueEnd });
      }
    }
    partStart = next;
  }
  return fields;
}
