import { ConflictError, InvalidInputError } from '../errors';
import type { KartraCredentialRecord } from './kartra-account-model';
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
  /** Why the saved credentials cannot be used now (another SECRETS_KEY sealed them, or none is set); null when they can. */
  problem: Exclude<CredentialsProblem, 'none_saved'> | null;
  problemMessage: string | null;
}

/** A "test connection": whether Kartra took the credentials, in words for the admin, and when it was asked. */
export interface ConnectionTestResult {
  ok: boolean;
  message: string;
  checkedAt: Date;
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
  /** Opens a stored record; a key mismatch is an expected state (SECRETS_KEY changed), anything else a real fault. */
  function open(record: KartraCredentialRecord): { ok: true; credentials: KartraApiCredentials } | { ok: false; problem: Exclude<CredentialsProblem, 'none_saved'> } {
    if (!secretBox) return { ok: false, problem: 'no_secrets_key' };
    try {
      const opened = JSON.parse(secretBox.open(record.sealed)) as { apiKey: string; apiPassword: string };
      return { ok: true, credentials: { appId: record.appId, apiKey: opened.apiKey, apiPassword: opened.apiPassword } };
    } catch (error) {
      if (error instanceof SecretBoxKeyMismatchError) return { ok: false, problem: 'sealed_with_other_key' };
      throw error;
    }
  }

  async function describeCredentials(site: Site): Promise<KartraCredentialsView | null> {
    const record = await repos.kartraCredentials.find(site.id);
    if (!record) return null;
    const { appId, apiKeyHint, updatedAt, lastCheckedAt, lastCheckOk, lastCheckMessage } = record;
    // Opening them here is what lets the page say "enter them again" before anything fails on them.
    const opened = open(record);
    const problem = opened.ok ? null : opened.problem;
    return { appId, apiKeyHint, savedAt: updatedAt, lastCheckedAt, lastCheckOk, lastCheckMessage, problem, problemMessage: problem ? CREDENTIALS_PROBLEM_TEXT[problem] : null };
  }

  /** Seals and saves the site's credentials, replacing any; the answer never carries them back. */
  async function saveCredentials(site: Site, input: KartraApiCredentials): Promise<KartraCredentialsView> {
    if (!secretBox) throw new ConflictError(CREDENTIALS_PROBLEM_TEXT.no_secrets_key);
    const appId = input.appId.trim();
    const apiKey = input.apiKey.trim();
    const apiPassword = input.apiPassword.trim();
    const issues = [
      ...(appId ? [] : [{ path: 'appId', message: 'the App ID is required' }]),
      // Longer than its hint, or the hint would be the whole key.
      ...(!apiKey ? [{ path: 'apiKey', message: 'the API key is required' }] : apiKey.length > HINT_LENGTH ? [] : [{ path: 'apiKey', message: 'this is too short for a Kartra API key' }]),
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

  /**
   * Forgets the site's credentials. Refused while verify-by-callback is on: with nothing to ask Kartra with, every
   * purchase would wait for a confirmation that cannot come and end up rejected.
   */
  async function removeCredentials(site: Site): Promise<void> {
    if (site.verifyWithKartra) throw new ConflictError('verify-by-callback is on and needs these credentials: switch it off before removing them');
    await repos.kartraCredentials.delete(site.id);
  }

  /** The site's credentials in clear, to call Kartra with; or why there are none to use. */
  async function credentialsFor(siteId: number): Promise<{ ok: true; credentials: KartraApiCredentials } | { ok: false; problem: CredentialsProblem }> {
    const record = await repos.kartraCredentials.find(siteId);
    if (!record) return { ok: false, problem: 'none_saved' };
    return open(record);
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

  /**
   * "Test connection": one account-wide read with the saved credentials; the outcome is kept for the Kartra page.
   * Credentials we cannot open are reported as that, not as a refusal by Kartra, which was never asked.
   */
  async function testConnection(site: Site): Promise<ConnectionTestResult> {
    const checkedAt = clock.now();
    const found = await credentialsFor(site.id);
    if (!found.ok) {
      const outcome = { ok: false, message: CREDENTIALS_PROBLEM_TEXT[found.problem], checkedAt };
      if (found.problem !== 'none_saved') await repos.kartraCredentials.recordCheck(site.id, { at: checkedAt, ok: false, message: outcome.message });
      return outcome;
    }
    const result = await kartraApi.testConnection(found.credentials);
    const outcome = result.ok
      ? { ok: true, message: `connected: Kartra answered with the account's ${result.value.listCount} list${result.value.listCount === 1 ? '' : 's'}`, checkedAt }
      : { ok: false, message: describeKartraFailure(result), checkedAt };
    await repos.kartraCredentials.recordCheck(site.id, { at: checkedAt, ok: outcome.ok, message: outcome.message });
    return outcome;
  }

  return { describeCredentials, saveCredentials, removeCredentials, credentialsFor, call, testConnection, canStoreCredentials: secretBox !== null };
}
