import { wallClockToInstant } from '../wall-clock';

/**
 * Kartra writes times as naive "YYYY-MM-DD HH:MM:SS" strings it calls "EST", without saying whether that is a fixed
 * UTC-5 or US Eastern time with daylight saving (REFERENCE.md §9). We keep the raw string and read it in a
 * configurable IANA zone (KARTRA_TIMEZONE, America/New_York by default), through the same wall-clock reading as
 * the admin pages' inputs (../wall-clock.ts).
 */
const NAIVE_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:\s*(?:EST|EDT|ET))?$/i;

// config.ts validates KARTRA_TIMEZONE with this; the rule lives with the wall-clock reading it protects.
export { isValidTimeZone } from '../wall-clock';

/**
 * The instant a Kartra wall-clock time denotes in `timeZone`, or undefined when the string is not one. A time in a
 * spring-forward gap moves forward by the gap (02:30 EST is 03:30 EDT) and an ambiguous fall-back time is its first
 * occurrence, as Temporal's "compatible" choice and java.time do.
 */
export function parseKartraTime(raw: string, timeZone: string): Date | undefined {
  const match = NAIVE_TIME.exec(raw.trim());
  if (!match) return undefined;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((part) => Number(part ?? 0));
  // Kartra's "not set" value for dates.
  if (year === 0) return undefined;
  return wallClockToInstant({ year, month, day, hour, minute, second }, timeZone);
}
