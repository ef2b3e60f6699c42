import type { Response } from 'express';
import type { AttemptCountStore, Clock, CountedKey, TakenSlot } from '../../domain/ports';
import { countOf } from '../../domain/wording';

/**
 * Password checks allowed per window, in the shape of OWASP's "Slow Down Online Guessing Attacks with Device
 * Cookies": a browser that signed in before (a valid device cookie) is judged only by its own failures, so guesses
 * from elsewhere never lock the admin out of it; every other browser shares the stricter limits below.
 */
export interface SignInLimits {
  windowMs: number;
  /** Per email from one address: one guesser on one account. Low, because it only ever stops that guesser. */
  perEmailAndAddress: number;
  /**
   * Per email from all browsers without a device cookie: caps guessing one password from many addresses. Higher than
   * the pair limit, since reaching it locks out the admin too, though only in browsers they never signed in with.
   */
  perEmail: number;
  /**
   * Per address from browsers without a device cookie: slows spraying one password over many emails. Admins at that
   * address who signed in there before keep their device cookie, so a sprayer behind a shared office address blocks
   * only first-time browsers there, never everyone.
   */
  perAddress: number;
  /** Per device cookie: a stolen cookie gives a guesser no more tries than one address would. */
  perDevice: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { windowMs: 15 * 60 * 1000, perEmailAndAddress: 5, perEmail: 20, perAddress: 20, perDevice: 5 };

/** One password check about to happen: who it is for, where it comes from, and the verified device cookie, if any. */
export interface SignInAttempt {
  email: string;
  address: string;
  /** The id of a device cookie the domain verified for this email's admin; null for any other browser. */
  deviceId: string | null;
}

/** Which limit refused an attempt, so the page can say what helps ("a browser you signed in with before"). */
export type LimitScope = 'email-and-address' | 'email' | 'address' | 'device';

/**
 * How a reserved check ended. `wrong-password` keeps the count; `signed-in` gives the slot back and forgets earlier
 * failures from this address or device (the person there knows the password); `not-checked` (a form error before the
 * password was compared) gives the slot back only.
 */
export type AttemptOutcome = 'wrong-password' | 'signed-in' | 'not-checked';

export type Reservation =
  | {
      granted: true;
      /** Settles once (later calls do nothing); await it before answering, so the next attempt sees the counts. */
      settle(outcome: AttemptOutcome): Promise<void>;
    }
  | { granted: false; retryAfterMs: number; scope: LimitScope };

// The store's contract is a port (a shared database implements it too); re-exported for the limiter's callers.
export type { AttemptCountStore, CountedKey, TakenSlot };

/** For a refused attempt: sets Retry-After and returns the wait in whole minutes, for the message ("3 minutes"). */
export function announceWait(res: Response, waitMs: number): string {
  res.setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
  return countOf(Math.ceil(waitMs / 60_000), 'minute');
}

/**
 * In process memory: enough for one process (the SQLite deployment, which owns its file), and a restart forgets the
 * counts, which only gives a guesser one more window. Each method runs to completion before its promise settles, so a
 * take cannot interleave with another request's.
 */
export function createMemoryAttemptCountStore(): AttemptCountStore {
  const windows = new Map<string, { count: number; windowStartMs: number }>();

  function live(key: string, nowMs: number, windowMs: number) {
    const entry = windows.get(key);
    return entry && nowMs - entry.windowStartMs < windowMs ? entry : null;
  }

  function forgetExpired(nowMs: number, windowMs: number): number {
    let forgotten = 0;
    for (const [key, entry] of windows) {
      if (nowMs - entry.windowStartMs >= windowMs) {
        windows.delete(key);
        forgotten += 1;
      }
    }
    return forgotten;
  }

  function take(keys: readonly CountedKey[], nowMs: number, windowMs: number) {
    if (windows.size > 10_000) forgetExpired(nowMs, windowMs);
    const full = keys.flatMap(({ key, limit }) => {
      const entry = live(key, nowMs, windowMs);
      return entry && entry.count >= limit ? [{ key, retryAfterMs: entry.windowStartMs + windowMs - nowMs }] : [];
    });
    if (full.length > 0) return { full };
    const taken = keys.map(({ key }) => {
      const entry = live(key, nowMs, windowMs) ?? { count: 0, windowStartMs: nowMs };
      entry.count += 1;
      windows.set(key, entry);
      return { key, windowStartMs: entry.windowStartMs };
    });
    return { taken };
  }

  function giveBack(slots: readonly TakenSlot[]) {
    for (const { key, windowStartMs } of slots) {
      const entry = windows.get(key);
      if (entry && entry.windowStartMs === windowStartMs && entry.count > 0) entry.count -= 1;
    }
  }

  function clear(keys: readonly string[]) {
    for (const key of keys) windows.delete(key);
  }

  return {
    take: async (keys, nowMs, windowMs) => take(keys, nowMs, windowMs),
    giveBack: async (slots) => giveBack(slots),
    clear: async (keys) => clear(keys),
    forgetExpired: async (nowMs, windowMs) => forgetExpired(nowMs, windowMs),
  };
}

export type SignInLimiter = ReturnType<typeof createSignInLimiter>;

/**
 * Limits password checks (sign-in and the current password on the account page). An attempt is reserved — checked
 * and counted in one atomic step of the store — before the password is hashed, and settled afterwards: checking first
 * and counting after the hash let a burst of parallel guesses all pass the check while the first ones were still
 * hashing. The store may be a shared database, so the reservation is a promise: the caller awaits it and hashes only
 * once it is granted, by which time the attempt is counted for every instance.
 */
export function createSignInLimiter(clock: Clock, limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS, store: AttemptCountStore = createMemoryAttemptCountStore()) {
  const scopeOfKey = (key: string): LimitScope => key.slice(0, key.indexOf(':')) as LimitScope;

  function keysFor(attempt: SignInAttempt): CountedKey[] {
    // OWASP's device-cookie scheme: a trusted browser answers only for its own failures, so nobody elsewhere can
    // use up its tries; every untrusted browser shares the per-email and per-address counts.
    if (attempt.deviceId !== null) return [{ key: `device:${attempt.deviceId}`, limit: limits.perDevice }];
    return [
      { key: `email-and-address:${attempt.email} ${attempt.address}`, limit: limits.perEmailAndAddress },
      { key: `email:${attempt.email}`, limit: limits.perEmail },
      { key: `address:${attempt.address}`, limit: limits.perAddress },
    ];
  }

  /** Takes a slot for one password check, or says how long until one is free. Await it before hashing the password. */
  async function reserve(attempt: SignInAttempt): Promise<Reservation> {
    const result = await store.take(keysFor(attempt), clock.now().getTime(), limits.windowMs);
    if ('full' in result) {
      // The attempt waits for the last full limit to reopen; the scope named is that one.
      const longest = result.full.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a));
      return { granted: false, retryAfterMs: longest.retryAfterMs, scope: scopeOfKey(longest.key) };
    }
    let settled = false;
    return {
      granted: true,
      async settle(outcome) {
        if (settled) return;
        settled = true;
        if (outcome === 'wrong-password') return;
        await store.giveBack(result.taken);
        // Failures for the whole email or address may be someone else's guesses, so only these two are forgotten.
        if (outcome === 'signed-in') await store.clear(result.taken.map(({ key }) => key).filter((key) => key.startsWith('email-and-address:') || key.startsWith('device:')));
      },
    };
  }

  return { reserve };
}
