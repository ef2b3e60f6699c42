import { ConflictError, InvalidInputError } from '../errors';
import type { Site } from '../model';
import type { Clock, KartraApi, KartraApiCredentials, KartraApiFailureKind, KartraApiResult, Repositories } from '../ports';
import { SecretBoxKeyMismatchError, type SecretBox } from '../secret-box';

/** The site's Kartra credentials as the admin sees them: never the key or password, only which key and how it fared. */
export interface KartraCredentialsView {
  appId: string;
  apiKeyHint: string;
  savedAt: Date;
  lastCheckedAt: Date | null;
  lastCheckOk: boolean | null;
  lastCheckMessage: string | null;
}

/** Why the service cannot call the site's Kartra account, in words an admin can act on; null when it can. */
export type CredentialsProblem = 'none_saved' | 'no_secrets_key' | 'sealed_with_other_key';

export const CREDENTIALS_PROBLEM_TEXT: Record<CredentialsProblem, string> = {
  none_saved: 'no Kartra API credentials are saved for this site',
  no_secrets_key: 'SECRETS_KEY is not set, so Kartra API credentials cannot be stored or read',
  sealed_with_other_key: 'the saved Kartra API credentials were sealed with another SECRETS_KEY; enter them again',
};

/** What a failed call says to the admin (the client's message carries no secret: kartra-api-client.ts). */
export function describeKartraFailure(failure: { kind: KartraApiFailureKind; message: string }): string {
  const what: Record<KartraApiFailureKind, string> = {
    credentials: 'Kartra refused the API credentials',
    permission: 'Kartra refused the call for this App',
    rate_limited: 'Kartra asked us to slow down',
    unavailable: 'Kartra did not answer',
    unexpected: 'Kartra answered something we could not read',
  };
  return `${what[failure.kind]}: ${failure.message}`;
}

const HINT_LENGTH = 4;

export type KartraAccountService = ReturnType<typeof createKartraAccountService>;

/**
 * A site's link to its Kartra account: its sealed API credentials, "test connection", and the one way other services
 * (verify, reconcile) call Kartra for a site, which notes on the stored credentials when Kartra refuses them.
 */
export function createKartraAccountService({ repos, clock, secretBox, kartraApi }: { repos: Repositories; clock: Clock; secretBox: SecretBox | null; kartraApi: KartraApi }) {
  async function describeCredentials(site: Site): Promise<KartraCredentialsView | null> {
    const record = await repos.kartraCredentials.find(site.id);
    if (!record) return null;
    const { appId, apiKeyHint, updatedAt, lastCheckedAt, lastCheckOk, lastCheckMessage } = record;
    return { appId, apiKeyHint, savedAt: updatedAt, lastCheckedAt, lastCheckOk, lastCheckMessage };
  }

  /** Seals and saves the site's credentials, replacing any; the answer never carries them back. */
  async function saveCredentials(site: Site, input: KartraApiCredentials): Promise<KartraCredentialsView> {
    if (!secretBox) throw new ConflictError(CREDENTIALS_PROBLEM_TEXT.no_secrets_key);
    const appId = input.appId.trim();
    const apiKey = input.apiKey.trim();
    const apiPassword = input.apiPassword.trim();
    const issues = [
      ...(appId ? [] : [{ path: 'appId', message: 'the App ID is required' }]),
      ...(apiKey.length > HINT_LENGTH ? [] : [{ path: 'apiKey', message: 'the API key is required' }]),
      ...(apiPassword ? [] : [{ path: 'apiPassword', message: 'the API password is required' }]),
    ];
    if (issues.length > 0) throw new InvalidInputError('the Kartra API credentials are incomplete', issues);
    await repos.kartraCredentials.save({
      siteId: site.id,
      appId,
      apiKeyHint: apiKey.slice(-HINT_LENGTH),
      sealed: secretBox.seal(JSON.stringify({ apiKey, apiPassword })),
      at: clock.now(),
    });
    const saved = await describeCredentials(site);
    if (!saved) throw new Error('saved credentials could not be read back');
    return saved;
  }

  async function removeCredentials(site: Site): Promise<void> {
    await repos.kartraCredentials.delete(site.id);
  }

  /** The site's credentials in clear, to call Kartra with; or why there are none to use. */
  async function credentialsFor(siteId: number): Promise<{ ok: true; credentials: KartraApiCredentials } | { ok: false; problem: CredentialsProblem }> {
    const record = await repos.kartraCredentials.find(siteId);
    if (!record) return { ok: false, problem: 'none_saved' };
    if (!secretBox) return { ok: false, problem: 'no_secrets_key' };
    try {
      const opened = JSON.parse(secretBox.open(record.sealed)) as { apiKey: string; apiPassword: string };
      return { ok: true, credentials: { appId: record.appId, apiKey: opened.apiKey, apiPassword: opened.apiPassword } };
    } catch (error) {
      if (error instanceof SecretBoxKeyMismatchError) return { ok: false, problem: 'sealed_with_other_key' };
      throw error;
    }
  }

  /**
   * Calls Kartra for the site with its credentials. A refusal of the credentials is noted on them (the Kartra page
   * shows it) whoever made the call; a site without usable credentials gets `credentials` with the reason.
   */
  async function call<T>(siteId: number, work: (api: KartraApi, credentials: KartraApiCredentials) => Promise<KartraApiResult<T>>): Promise<KartraApiResult<T>> {
    const found = await credentialsFor(siteId);
    if (!found.ok) return { ok: false, kind: 'credentials', message: CREDENTIALS_PROBLEM_TEXT[found.problem] };
    const result = await work(kartraApi, found.credentials);
    if (!result.ok && result.kind === 'credentials') await repos.kartraCredentials.recordCheck(siteId, { at: clock.now(), ok: false, message: describeKartraFailure(result) });
    return result;
  }

  /** "Test connection": one account-wide read with the saved credentials; the outcome is kept for the Kartra page. */
  async function testConnection(site: Site): Promise<{ ok: boolean; message: string }> {
    const result = await call(site.id, (api, credentials) => api.testConnection(credentials));
    const outcome = result.ok
      ? { ok: true, message: `connected: Kartra answered with the account's ${result.value.listCount} list${result.value.listCount === 1 ? '' : 's'}` }
      : { ok: false, message: describeKartraFailure(result) };
    if (await repos.kartraCredentials.find(site.id)) await repos.kartraCredentials.recordCheck(site.id, { at: clock.now(), ...outcome });
    return outcome;
  }

  return { describeCredentials, saveCredentials, removeCredentials, credentialsFor, call, testConnection, canStoreCredentials: secretBox !== null };
}
