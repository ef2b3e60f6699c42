import type { Response } from 'express';
import type { Clock } from '../../domain/ports';
import { countOf } from '../../domain/wording';

export interface SignInLimits {
  windowMs: number;
  /** Failed attempts allowed per email within the window: slows guessing one admin's password. */
  perEmail: number;
  /** Failed attempts allowed per client address: slows spraying one password over many emails. */
  perIp: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { windowMs: 15 * 60 * 1000, perEmail: 5, perIp: 20 };

export type SignInLimiter = ReturnType<typeof createSignInLimiter>;

/** For a refused attempt: sets Retry-After and returns the wait in whole minutes, for the message ("3 minutes"). */
export function announceWait(res: Response, waitMs: number): string {
  res.setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
  return countOf(Math.ceil(waitMs / 60_000), 'minute');
}

/**
 * Counts failed sign-ins in memory, per email and per client address, in a fixed window. In memory is enough for one
 * process; a restart forgets the counts, which only gives an attacker one more window.
 */
export function createSignInLimiter(clock: Clock, limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS) {
  const failures = new Map<string, { count: number; windowStart: number }>();

  function current(key: string, now: number) {
    const entry = failures.get(key);
    if (!entry || now - entry.windowStart >= limits.windowMs) return null;
    return entry;
  }

  /** Milliseconds until another attempt is allowed, or 0 when one is allowed now. */
  function retryAfterMs(ip: string, email: string): number {
    const now = clock.now().getTime();
    let wait = 0;
    for (const [key, limit] of [[`ip:${ip}`, limits.perIp], [`email:${email}`, limits.perEmail]] as const) {
      const entry = current(key, now);
      if (entry && entry.count >= limit) wait = Math.max(wait, entry.windowStart + limits.windowMs - now);
    }
    return wait;
  }

  function recordFailure(ip: string, email: string): void {
    const now = clock.now().getTime();
    if (failures.size > 10_000) {
      for (const [key, entry] of failures) if (now - entry.windowStart >= limits.windowMs) failures.delete(key);
    }
    for (const key of [`ip:${ip}`, `email:${email}`]) {
      const entry = current(key, now);
      if (entry) entry.count += 1;
      else failures.set(key, { count: 1, windowStart: now });
    }
  }

  function recordSuccess(email: string): void {
    failures.delete(`email:${email}`);
  }

  return { retryAfterMs, recordFailure, recordSuccess };
}
