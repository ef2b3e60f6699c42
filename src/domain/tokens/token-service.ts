import { NotFoundError, UnauthenticatedError } from '../errors';
import type { ApiToken } from '../model';
import type { Clock, Repositories } from '../ports';
import { generateSecret, hashSecret } from '../secrets';

const TOKEN_PREFIX = 'ka_';
/**
 * "Last used" is for spotting unused tokens; a minute's precision is plenty. Every admin request authenticates, and
 * writing the mark each time would make every GET a write (a durable commit on SQLite, a round trip and a dead tuple
 * on PostgreSQL): the token just read says whether its mark is due.
 */
const TOKEN_USE_RESOLUTION_MS = 60_000;

export type TokenService = ReturnType<typeof createTokenService>;

/** Admin API tokens: shown once at creation, stored as a hash, revocable. */
export function createTokenService({ repos, clock }: { repos: Repositories; clock: Clock }) {
  async function create(name: string, siteId: number | null): Promise<{ token: string; record: ApiToken }> {
    if (siteId !== null && !(await repos.sites.findById(siteId))) throw new NotFoundError('site', siteId);
    const token = `${TOKEN_PREFIX}${generateSecret()}`;
    const record = await repos.tokens.create({ name: name.trim(), tokenHash: hashSecret(token), tokenPrefix: token.slice(0, 7), siteId, createdAt: clock.now() });
    return { token, record };
  }

  /**
   * Looks the token up by its hash: the database index does the matching, and what it compares is a hash, so the
   * time taken says nothing about how much of a guessed token was right.
   */
  async function authenticate(presented: string | undefined): Promise<ApiToken> {
    if (!presented || !presented.startsWith(TOKEN_PREFIX) || presented.length > 200) throw new UnauthenticatedError();
    const record = await repos.tokens.findActiveByHash(hashSecret(presented));
    if (!record) throw new UnauthenticatedError();
    const now = clock.now();
    const unlessUsedSince = new Date(now.getTime() - TOKEN_USE_RESOLUTION_MS);
    if (!record.lastUsedAt || record.lastUsedAt < unlessUsedSince) await repos.tokens.markUsed(record.id, now, unlessUsedSince);
    return record;
  }

  async function revoke(tokenId: number): Promise<void> {
    if (!(await repos.tokens.revoke(tokenId, clock.now()))) throw new NotFoundError('token', tokenId);
  }

  return { create, authenticate, revoke, list: () => repos.tokens.list() };
}
