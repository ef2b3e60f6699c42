import type { Request, Response } from 'express';
import { readCookie, setCookie } from './cookies';

/**
 * Marks a browser that signed in before, so the sign-in limiter can tell it from a guesser's (OWASP, "Slow Down Online
 * Guessing Attacks with Device Cookies"). Its value is signed by the domain (`issueDeviceToken`) and means nothing
 * without the password: it only keeps other people's failed guesses from locking this browser out.
 */
export const DEVICE_COOKIE = 'ka_device';
/** Long, so an admin who signs in every few months still counts as a known browser. */
const DEVICE_COOKIE_MAX_AGE_MS = 180 * 24 * 60 * 60 * 1000;

export function readDeviceToken(req: Request): string | undefined {
  return readCookie(req, DEVICE_COOKIE);
}

export function setDeviceCookie(req: Request, res: Response, deviceToken: string): void {
  setCookie(req, res, DEVICE_COOKIE, deviceToken, DEVICE_COOKIE_MAX_AGE_MS);
}
