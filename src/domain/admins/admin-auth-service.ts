import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidInputError, NotFoundError } from '../errors';
import type { AdminSession, AdminUser } from '../model';
import type { Clock, Repositories } from '../ports';
import { isValidTimeZone } from '../wall-clock';
import { hashPassword, verifyPassword } from './password-hash';

const HOUR_MS = 60 * 60 * 1000;
/** A session ends after this long without a request... */
const IDLE_TIMEOUT_MS = 12 * HOUR_MS;
/** ...and in any case this long after sign-in. */
const ABSOLUTE_TIMEOUT_MS = 7 * 24 * HOUR_MS;
/** Writing last-seen on every request would turn page views into writes; once a minute is enough for the idle timeout. */
const TOUCH_INTERVAL_MS = 60 * 1000;
export const MIN_PASSWORD_LENGTH = 12;

export interface SignedInAdmin {
  admin: AdminUser;
  session: AdminSession;
  siteIds: number[];
}

export type AdminAuthService = ReturnType<typeof createAdminAuthService>;

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');
const normalizeEmail = (email: string) => email.trim().toLowerCase();

/** Sign-in, sessions and admin accounts for the App Station pages. Cookie values are random; only their hash is stored. */
export function createAdminAuthService({ repos, clock }: { repos: Repositories; clock: Clock }) {
  // Verifying against a real hash when the email is unknown keeps the answer time the same, so timing does not
  // reveal which emails have accounts.
  const dummyHash = hashPassword(randomBytes(16).toString('hex'));

  async function createAdmin(input: { email: string; password: string; timeZone?: string; siteIds?: number[] }): Promise<AdminUser> {
    const email = normalizeEmail(input.email);
    const issues: { path: string; message: string }[] = [];
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) issues.push({ path: 'email', message: 'an email address' });
    if (input.password.length < MIN_PASSWORD_LENGTH) issues.push({ path: 'password', message: `at least ${MIN_PASSWORD_LENGTH} characters` });
    const timeZone = input.timeZone ?? 'UTC';
    if (!isValidTimeZone(timeZone)) issues.push({ path: 'timeZone', message: 'an IANA time zone such as Europe/Berlin' });
    if (await repos.admins.findByEmail(email)) issues.push({ path: 'email', message: 'an admin with this email exists' });
    for (const siteId of input.siteIds ?? []) if (!(await repos.sites.findById(siteId))) issues.push({ path: 'site', message: `site ${siteId} does not exist` });
    if (issues.length > 0) throw new InvalidInputError('cannot create the admin', issues);
    const passwordHash = await hashPassword(input.password);
    const admin = await repos.admins.create({ email, passwordHash, timeZone, createdAt: clock.now() });
    for (const siteId of input.siteIds ?? []) await repos.admins.grantSite(admin.id, siteId, clock.now());
    return admin;
  }

  async function grantSite(email: string, siteId: number): Promise<void> {
    const admin = await repos.admins.findByEmail(normalizeEmail(email));
    if (!admin) throw new NotFoundError('admin', email);
    if (!(await repos.sites.findById(siteId))) throw new NotFoundError('site', siteId);
    await repos.admins.grantSite(admin.id, siteId, clock.now());
  }

  /**
   * Checks the password and starts a new session. The session presented before sign-in (if any) is revoked, so a
   * session id planted before sign-in never becomes an authenticated one (session fixation).
   */
  async function signIn(email: string, password: string, previousSessionToken?: string): Promise<{ sessionToken: string; signedIn: SignedInAdmin } | null> {
    const admin = await repos.admins.findByEmail(normalizeEmail(email));
    const matches = await verifyPassword(password, admin?.passwordHash ?? (await dummyHash));
    if (!admin || !matches) return null;
    if (previousSessionToken) await repos.adminSessions.delete(sha256(previousSessionToken));
    const now = clock.now();
    const sessionToken = randomBytes(32).toString('base64url');
    const session: AdminSession = {
      idHash: sha256(sessionToken),
      adminId: admin.id,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + IDLE_TIMEOUT_MS),
    };
    await repos.adminSessions.create(session);
    await repos.admins.recordSignIn(admin.id, now);
    await repos.adminSessions.deleteExpired(now);
    return { sessionToken, signedIn: { admin, session, siteIds: await repos.admins.siteIds(admin.id) } };
  }

  /** The signed-in admin for a cookie value, or null when the session is unknown or over. */
  async function authenticate(sessionToken: string | undefined): Promise<SignedInAdmin | null> {
    if (!sessionToken) return null;
    const idHash = sha256(sessionToken);
    const session = await repos.adminSessions.findByIdHash(idHash);
    if (!session) return null;
    const now = clock.now();
    if (session.expiresAt.getTime() <= now.getTime() || now.getTime() - session.createdAt.getTime() >= ABSOLUTE_TIMEOUT_MS) {
      await repos.adminSessions.delete(idHash);
      return null;
    }
    const admin = await repos.admins.findById(session.adminId);
    if (!admin) return null;
    if (now.getTime() - session.lastSeenAt.getTime() >= TOUCH_INTERVAL_MS) {
      const expiresAt = new Date(Math.min(now.getTime() + IDLE_TIMEOUT_MS, session.createdAt.getTime() + ABSOLUTE_TIMEOUT_MS));
      await repos.adminSessions.touch(idHash, now, expiresAt);
    }
    return { admin, session, siteIds: await repos.admins.siteIds(admin.id) };
  }

  async function signOut(sessionToken: string | undefined): Promise<void> {
    if (sessionToken) await repos.adminSessions.delete(sha256(sessionToken));
  }

  async function setTimeZone(adminId: number, timeZone: string): Promise<void> {
    if (!isValidTimeZone(timeZone)) throw new InvalidInputError('unknown time zone', [{ path: 'timeZone', message: 'an IANA time zone such as Europe/Berlin' }]);
    await repos.admins.setTimeZone(adminId, timeZone);
  }

  /**
   * Changes the signed-in admin's password after checking the current one. Every other session of the admin ends, so
   * a browser left signed in elsewhere (or a stolen cookie) loses access; the session that made the change stays.
   * Returns null when the current password is wrong, so the caller can count it like a failed sign-in.
   */
  async function changePassword(signedIn: SignedInAdmin, currentPassword: string, newPassword: string): Promise<{ otherSessionsEnded: number } | null> {
    const admin = await repos.admins.findById(signedIn.admin.id);
    if (!admin || !(await verifyPassword(currentPassword, admin.passwordHash))) return null;
    const issues: { path: string; message: string }[] = [];
    if (newPassword.length < MIN_PASSWORD_LENGTH) issues.push({ path: 'newPassword', message: `at least ${MIN_PASSWORD_LENGTH} characters` });
    else if (newPassword === currentPassword) issues.push({ path: 'newPassword', message: 'a password different from the current one' });
    if (issues.length > 0) throw new InvalidInputError('cannot change the password', issues);
    await repos.admins.setPasswordHash(admin.id, await hashPassword(newPassword));
    return { otherSessionsEnded: await repos.adminSessions.deleteOthers(admin.id, signedIn.session.idHash) };
  }

  /**
   * The key that signs an admin's device cookies, derived from the stored password hash: only the server has it, it
   * differs per admin (one admin's cookie says nothing about another's), and a password change replaces it, so every
   * device cookie issued before the change stops counting as a known browser without a table to revoke them in.
   * Someone who can read the database could forge one, but a device cookie never stands in for the password: it only
   * keeps other people's failed guesses from counting against this browser.
   */
  function deviceKey(admin: AdminUser): Buffer {
    return createHash('sha256').update('kartra-access device cookie\0', 'utf8').update(admin.passwordHash, 'utf8').digest();
  }

  const deviceMac = (admin: AdminUser, adminIdAndNonce: string) => createHmac('sha256', deviceKey(admin)).update(adminIdAndNonce, 'utf8').digest('base64url');

  /**
   * A device cookie value for a browser that just proved the password: `<adminId>.<nonce>.<mac>`. Later sign-ins
   * from that browser are limited by its own failures only (see the sign-in limiter).
   */
  async function issueDeviceToken(adminId: number): Promise<string> {
    const admin = await repos.admins.findById(adminId);
    if (!admin) throw new NotFoundError('admin', adminId);
    const adminIdAndNonce = `${admin.id}.${randomBytes(16).toString('base64url')}`;
    return `${adminIdAndNonce}.${deviceMac(admin, adminIdAndNonce)}`;
  }

  /**
   * The device id (`<adminId>.<nonce>`) of a cookie this server issued to the admin with this email since their last
   * password change; null for a missing, malformed, forged or other admin's cookie. The mac is compared in constant time.
   */
  async function trustedDevice(deviceToken: string | undefined, email: string): Promise<string | null> {
    const parts = deviceToken?.split('.') ?? [];
    const [adminId, nonce, mac] = parts;
    if (parts.length !== 3 || !adminId || !nonce || !mac) return null;
    const admin = await repos.admins.findByEmail(normalizeEmail(email));
    if (!admin || String(admin.id) !== adminId) return null;
    const expected = Buffer.from(deviceMac(admin, `${adminId}.${nonce}`), 'utf8');
    const presented = Buffer.from(mac, 'utf8');
    return presented.length === expected.length && timingSafeEqual(presented, expected) ? `${adminId}.${nonce}` : null;
  }

  /** Constant-time check of a form's CSRF token against the session's. */
  function csrfMatches(session: AdminSession, presented: unknown): boolean {
    if (typeof presented !== 'string') return false;
    const a = Buffer.from(sha256(presented), 'hex');
    const b = Buffer.from(sha256(session.csrfToken), 'hex');
    return timingSafeEqual(a, b);
  }

  return { createAdmin, grantSite, signIn, authenticate, signOut, csrfMatches, setTimeZone, changePassword, issueDeviceToken, trustedDevice };
}
