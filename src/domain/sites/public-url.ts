import { InvalidInputError } from '../errors';

/**
 * The rule for a public URL: the base that webhook URLs are built on, as `<publicUrl>/hooks/kartra/<key>/<secret>`.
 * Anything that would move the secret out of the path, send it to another host than the one shown, or send it in
 * the clear is refused. It lives in the domain so that every entry point (API, admin page, config at start-up) gets
 * the same rule and none can skip it.
 */

export const PUBLIC_URL_MAX_LENGTH = 2048;
// RFC 1035 §2.3.4: 253 characters for a name written with dots, 63 per label.
const HOSTNAME_MAX_LENGTH = 253;
const LABEL_MAX_LENGTH = 63;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const HTTPS_ONLY = 'https only (http only for localhost, 127.0.0.1 or [::1])';

export type PublicUrlCheck = { ok: true; url: string } | { ok: false; rule: string };

/** Checks a public URL and returns it normalised (as the URL parser writes it, no trailing slash), or the rule it breaks. */
export function checkPublicUrl(input: string): PublicUrlCheck {
  const raw = input.trim();
  if (raw.length === 0) return { ok: false, rule: 'empty: give a full address such as https://members.example.com, or null for the service’s default' };
  // Checked before parsing, so a huge value costs nothing.
  if (raw.length > PUBLIC_URL_MAX_LENGTH) return { ok: false, rule: `at most ${PUBLIC_URL_MAX_LENGTH} characters` };
  // Parsed before the character rules, so a value that is no address at all is told so plainly.
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, rule: 'a full address such as https://members.example.com' };
  }
  // The URL standard reads `\` as `/` in http(s) URLs, other parsers do not: `https://a.example\@b.example` names a
  // different host depending on who reads it.
  if (raw.includes('\\')) return { ok: false, rule: 'no backslashes (\\): write the address with forward slashes' };
  // The URL standard silently drops tabs and newlines inside a URL; what is stored should be what was typed.
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return { ok: false, rule: 'no spaces or control characters' };
  // Checked on the text, not the parsed URL: a bare `?` or `#` leaves `search` and `hash` empty but still turns the
  // secret appended after it into a query or a fragment, which proxies log and browsers never send.
  if (raw.includes('?') || raw.includes('#')) return { ok: false, rule: 'no query (?) or fragment (#): the webhook path and its secret are added to the end' };
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, rule: HTTPS_ONLY };
  // The parser also accepts `https:host` and `https:/host`; only the spelled-out form is unambiguous to every reader.
  if (raw.slice(url.protocol.length, url.protocol.length + 2) !== '//') return { ok: false, rule: 'a full address such as https://members.example.com' };
  // An `@` anywhere before the path is userinfo, even an empty one (`https://@host`), which the parsed URL hides.
  const authority = raw.slice(url.protocol.length + 2).split('/')[0] ?? '';
  if (url.username !== '' || url.password !== '' || authority.includes('@')) {
    return { ok: false, rule: 'no user name or password (user:pass@): the address is shown to admins and sent to Kartra' };
  }
  // Kartra posts buyers' names and emails to this address; plain http is only harmless when it never leaves the machine.
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) return { ok: false, rule: HTTPS_ONLY };
  if (url.hostname.length > HOSTNAME_MAX_LENGTH) return { ok: false, rule: `a host name of at most ${HOSTNAME_MAX_LENGTH} characters` };
  if (!url.hostname.startsWith('[') && url.hostname.split('.').some((label) => label.length === 0 || label.length > LABEL_MAX_LENGTH)) {
    return { ok: false, rule: `a host name whose parts between dots are 1 to ${LABEL_MAX_LENGTH} characters` };
  }
  // Normalising can lengthen the text (percent-encoding, punycode), so the cap applies to the result as well.
  const normalised = url.href.replace(/\/+$/, '');
  if (normalised.length > PUBLIC_URL_MAX_LENGTH) return { ok: false, rule: `at most ${PUBLIC_URL_MAX_LENGTH} characters` };
  return { ok: true, url: normalised };
}

/** The normalised URL, or an InvalidInputError on `field` naming the rule it breaks. */
export function requirePublicUrl(input: string, field = 'publicUrl'): string {
  const checked = checkPublicUrl(input);
  if (!checked.ok) throw new InvalidInputError(`the public URL is not accepted: ${checked.rule}`, [{ path: field, message: checked.rule }]);
  return checked.url;
}
