import { checkPublicUrl, type PublicUrlCheck } from '../sites/public-url';

/**
 * An endpoint URL follows the public-URL rule (https, http only for localhost, 127.0.0.1 or [::1]; no user:pass@,
 * query or fragment), and, against server-side request forgery, names no private, link-local or unspecified IP
 * address literally: a site admin must not be able to make the service POST into the network it runs in (cloud
 * metadata at 169.254.169.254, a database's admin port). Loopback stays allowed for development. Host names are not
 * resolved here, so a name that resolves to a private address is not caught: an operator who needs that guarantee
 * puts an egress proxy in front of the service (README, "Notifications").
 */
export function checkEndpointUrl(input: string): PublicUrlCheck {
  const checked = checkPublicUrl(input);
  if (!checked.ok) return checked;
  const host = new URL(checked.url).hostname;
  if (isPrivateIpv4(host) || isPrivateIpv6(host)) return { ok: false, rule: 'no private, link-local or unspecified IP address (loopback only for development)' };
  return checked;
}

function isPrivateIpv4(host: string): boolean {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (!match) return false;
  const [a, b] = [Number(match[1]), Number(match[2])];
  if (a === 127) return false;
  return a === 0 || a === 10 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a >= 224;
}

function isPrivateIpv6(host: string): boolean {
  if (!host.startsWith('[')) return false;
  const address = host.slice(1, -1).toLowerCase();
  if (address === '::1') return false;
  // Everything else written as an IPv6 literal that is not plainly global: unspecified, mapped IPv4, unique local, link-local.
  return address === '::' || address.startsWith('::ffff:') || /^f[c-d]/.test(address) || /^fe[89ab]/.test(address);
}
