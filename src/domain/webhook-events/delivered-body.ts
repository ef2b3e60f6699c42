import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync, type ZlibOptions } from 'node:zlib';
import { redactKartraBody } from '../kartra/redact-body';

/**
 * A delivery's content, from the bytes as received and the Content-Encoding they claim (RFC 9110 §8.4). The bytes are
 * stored before this runs, so whatever it says, nothing is lost: a body that does not match its header is an invalid
 * event that names the reason, with its bytes kept.
 */
export type DeliveredContent = { ok: true; content: Buffer; codings: string[] } | { ok: false; error: string };

/** Codings the intake decodes; any other is refused by name (compress, zstd, and anything invented). */
const DECODERS: Record<string, (bytes: Buffer, options: ZlibOptions) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  // RFC 9110 §8.4.1.2 says zlib-wrapped; some clients send raw deflate, which browsers accept too.
  deflate: (bytes, options) => {
    try {
      return inflateSync(bytes, options);
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw error;
      return inflateRawSync(bytes, options);
    }
  },
  br: brotliDecompressSync,
};

/**
 * Undoes the codings listed in `contentEncoding`, last applied first. `maxContentBytes` caps what decoding may
 * produce, so a small compressed body cannot expand into gigabytes (a decompression bomb) in the one writer.
 */
export function decodeDeliveredBody(bytes: Buffer, contentEncoding: string | undefined, maxContentBytes: number): DeliveredContent {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  let content = bytes;
  for (const coding of [...codings].reverse()) {
    const decode = DECODERS[coding];
    if (!decode) return { ok: false, error: `Content-Encoding "${coding.slice(0, 40)}" is not one kartra-access decodes (gzip, deflate, br); the body is kept as received` };
    try {
      content = decode(content, { maxOutputLength: maxContentBytes });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, error: `the body decoded by Content-Encoding ${coding} is larger than the ${maxContentBytes}-byte limit` };
      return { ok: false, error: `the body does not match its Content-Encoding ${coding} (${code ?? 'unreadable'}); it is kept as received` };
    }
  }
  if (content.length > maxContentBytes) return { ok: false, error: `the decoded body is larger than the ${maxContentBytes}-byte limit` };
  return { ok: true, content, codings };
}

/** The largest body the service can be configured to take (WEBHOOK_BODY_LIMIT_BYTES); enough for any stored one. */
const MAX_READABLE_BYTES = 10 * 1024 * 1024;

/**
 * A stored body as an admin or API client reads it: its codings undone as the intake undid them, as text (bytes that
 * are not UTF-8 show as U+FFFD; storage keeps them intact), with the IPN secret masked. A compressed body is shown
 * decoded, because its compressed bytes can hold the secret as a literal; one that does not decode is shown as
 * received, masked all the same, with a note saying why.
 */
export function readableBody(rawBody: Buffer, headers: Readonly<Record<string, string>>): { text: string; note: string | null } {
  const decoded = decodeDeliveredBody(rawBody, headers['content-encoding'], MAX_READABLE_BYTES);
  const bytes = decoded.ok ? decoded.content : rawBody;
  const note = decoded.ok ? (decoded.codings.length > 0 ? `received with Content-Encoding ${decoded.codings.join(', ')}; shown decoded` : null) : decoded.error;
  return { text: redactKartraBody(bytes.toString('utf8'), headers['content-type']), note };
}
