/**
 * The IPN body carries the vendor's `secret_key` in clear. Stored bodies keep it (they are the evidence), but
 * anything shown to an admin or an API client passes through here first.
 */
export function redactKartraBody(text: string): string {
  return (
    text
      .replace(/(^|[&\r\n])(secret_key=)[^&\r\n]*/g, '$1$2[redacted]')
      // JSON: a string value (escapes included) or a bare number, boolean or other scalar.
      .replace(/("secret_key"\s*:\s*)(?:"(?:[^"\\]|\\.)*"|[^,}\]\s]+)/g, '$1"[redacted]"')
      // Multipart: the part's value follows its headers (Content-Disposition and any others) and a blank line,
      // and runs to the next delimiter line, which is how the form decoder reads it (RFC 7578).
      .replace(/(name="secret_key"[^\r\n]*(?:\r?\n[^\r\n]+)*\r?\n\r?\n)(?:(?!\r?\n--)[\s\S])*/g, '$1[redacted]')
  );
}
