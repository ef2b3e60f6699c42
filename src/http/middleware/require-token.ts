import type { Request, RequestHandler, Response } from 'express';
import type { ApiToken, Site } from '../../domain/model';
import type { SiteService } from '../../domain/sites/site-service';
import type { TokenService } from '../../domain/tokens/token-service';
import { NotFoundError } from '../../domain/errors';

/** Requires `Authorization: Bearer <token>`; the token is kept on res.locals for the handlers. */
export function requireToken(tokens: TokenService): RequestHandler {
  return async function authenticateToken(req, res, next) {
    const header = req.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    res.locals.token = await tokens.authenticate(presented);
    next();
  };
}

export function currentToken(res: Response): ApiToken {
  return res.locals.token as ApiToken;
}

export function visibleSiteIds(res: Response): number[] | 'all' {
  const token = currentToken(res);
  return token.siteId === null ? 'all' : [token.siteId];
}

/** The site named in the path, if this token may see it; anything else is a 404, never a 403. */
export async function siteFromPath(sites: SiteService, req: Request, res: Response): Promise<Site> {
  const raw = String(req.params.siteId ?? '');
  if (!/^\d{1,12}$/.test(raw)) throw new NotFoundError('site', raw.slice(0, 40));
  return await sites.requireSite(Number(raw), visibleSiteIds(res));
}

export function actorName(res: Response): string {
  return `admin:${currentToken(res).name}`;
}
