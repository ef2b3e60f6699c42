import { instantToWallClock, wallClockToInstant } from '../../domain/wall-clock';

/** Formatting for the admin pages: every time is shown in the admin's zone, with the zone named. */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'short',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** "4 Mar 2025, 09:12 GMT-8", or "never" for a missing time. */
export function formatTime(date: Date | null | undefined, timeZone: string, missing = 'never'): string {
  return date ? formatterFor(timeZone).format(date) : missing;
}

/** Machine-readable form for `<time datetime>`. */
export const isoTime = (date: Date | null | undefined): string => (date ? date.toISOString() : '');

/**
 * A `datetime-local` value ("2025-03-04T09:30"), read as wall time in `timeZone`; null when it is not such a value
 * or names no real time (30 February). It is read as a Kartra time is (domain/wall-clock.ts), so that the two
 * name the same instant for the same wall clock: a time in a spring-forward gap moves forward by the gap, and an
 * ambiguous fall-back time is its first occurrence.
 */
export function wallTimeToDate(value: string, timeZone: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(value.trim());
  if (!match) return null;
  const [, year, month, day, hour, minute] = match.map(Number) as [number, number, number, number, number, number];
  return wallClockToInstant({ year, month, day, hour, minute, second: 0 }, timeZone) ?? null;
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** The `datetime-local` value for a time in `timeZone`, to prefill inputs. */
export function dateToWallTime(date: Date, timeZone: string): string {
  const wall = instantToWallClock(date, timeZone);
  return `${pad(wall.year, 4)}-${pad(wall.month)}-${pad(wall.day)}T${pad(wall.hour)}:${pad(wall.minute)}`;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** A count that stopped at a cap reads "1000+": at least that many. */
export function atLeast(count: number, isLowerBound: boolean): string {
  return isLowerBound ? `${count}+` : String(count);
}

/** plural() of a count that may have stopped at a cap: "1 buyer", "3 buyers", "500+ buyers". */
export function pluralAtLeast(count: number, isLowerBound: boolean, one: string, many = `${one}s`): string {
  return `${atLeast(count, isLowerBound)} ${count === 1 && !isLowerBound ? one : many}`;
}
