/**
 * The IPN body carries the vendor's `secret_key` in clear. Stored bodies keep it (they are the evidence), but
 * anything shown to an admin or an API client passes through here first.
 */
export function redactKartraBody(text: string): string {
  return text
    .replace(/(^|[&\r\n])(secret_key=)[^&\r\n]*/g, '$1$2[redacted]')
    .replace(/("secret_key"\s*:\s*)"(?:[^"\\]|\\.)*"/g, '$1"[redacted]"')
    .replace(/(name="secret_key"\r?\n\r?\n)[^\r\n]*/g, '$1[redacted]');
}
