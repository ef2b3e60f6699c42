import type { Request, Response } from 'express';

/** Reads one cookie from the request; express 5 has no cookie parser and one small function is all we need. */
export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    if (part.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(part.slice(at + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * httpOnly so page scripts cannot read it; SameSite=Lax so other sites cannot post forms with it; Secure when the
 * request came over https (behind a proxy this needs TRUST_PROXY so express sees the original scheme).
 */
export function setCookie(req: Request, res: Response, name: string, value: string, maxAgeMs?: number): void {
  res.cookie(name, value, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/admin', ...(maxAgeMs ? { maxAge: maxAgeMs } : {}) });
}

export function clearCookie(req: Request, res: Response, name: string): void {
  res.clearCookie(name, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/admin' });
}
