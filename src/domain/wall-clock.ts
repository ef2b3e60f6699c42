import { Temporal } from 'temporal-polyfill';

/**
 * The one place that turns a wall-clock reading in an IANA zone into an instant and back: Kartra's naive times
 * (read in KARTRA_TIMEZONE) and an admin's `datetime-local` inputs (read in the admin's zone) both come here, so
 * the two cannot disagree about daylight saving again.
 *
 * Temporal (through temporal-polyfill) is the definition. A wall-clock time in a spring-forward gap moves forward
 * by the gap (02:30 on a New York spring-forward night is 03:30 EDT, 07:30Z) and one in a fall-back overlap is the
 * earlier of its two instants: Temporal's `disambiguation: 'compatible'`, which java.time and RFC 5545 also use.
 *
 * In front of Temporal sits a cache of spans between the zone's offset changes, taken from Temporal itself, because
 * Temporal's objects cost about 9 µs a conversion and Kartra times are read on every webhook; through the spans a
 * conversion takes about 1 µs (test/bench/wall-clock-bench.ts). A time more than a day from any change has exactly
 * one reading (see `readingFarFromChanges`), which is plain arithmetic; times within a day of a change, about 1% of
 * them in a zone with daylight saving, go to Temporal. test/unit/wall-clock.test.ts checks both paths against it.
 */

/** A reading of a clock on the wall: a calendar date and a time of day, in no zone. `month` counts from 1. */
export interface WallClockTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * How far a span reaches either side of the instant it was asked for. The polyfill looks for a next transition
 * only about three years ahead, so "no next transition" means "none within three years", not "none ever".
 */
const SPAN_REACH_MS = 365 * DAY_MS;
/** Spans kept per zone before the cache starts over; a zone has about two a year, a webhook feed needs a handful. */
const MAX_SPANS_PER_ZONE = 2_000;

/** A stretch of time, `[startMs, endMs)`, over which the zone's offset from UTC stays `offsetMs`. */
interface OffsetSpan {
  startMs: number;
  endMs: number;
  offsetMs: number;
}

/**
 * Per zone, the spans found so far, sorted by start. Two spans may overlap where both are capped parts of one stretch
 * between changes; each is true on its own, so the lookup stays right and at worst asks Temporal again.
 */
const spansByZone = new Map<string, OffsetSpan[]>();

export function isValidTimeZone(timeZone: string): boolean {
  try {
    // Intl formats the admin pages' times and Temporal reads wall clocks: a zone must suit both.
    new Intl.DateTimeFormat('en-US', { timeZone });
    Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * The instant `wall` denotes in `timeZone`, resolved as Temporal's 'compatible' does; undefined when `wall` is not
 * a real calendar date and time (30 February, 24:00, 10:60). Throws RangeError for an unknown zone.
 */
export function wallClockToInstant(wall: WallClockTime, timeZone: string): Date | undefined {
  const wallMs = wallClockAsUtcMs(wall);
  if (wallMs === undefined) return undefined;
  const fastMs = readingFarFromChanges(wallMs, timeZone);
  if (fastMs !== undefined) return new Date(fastMs);
  const zoned = Temporal.ZonedDateTime.from({ ...wall, timeZone }, { disambiguation: 'compatible', overflow: 'reject' });
  return new Date(zoned.epochMilliseconds);
}

/** What a clock in `timeZone` shows at `instant`, to the second. Throws RangeError for an unknown zone. */
export function instantToWallClock(instant: Date, timeZone: string): WallClockTime {
  const instantMs = instant.getTime();
  const wall = new Date(instantMs + spanAt(timeZone, instantMs).offsetMs);
  return {
    year: wall.getUTCFullYear(),
    month: wall.getUTCMonth() + 1,
    day: wall.getUTCDate(),
    hour: wall.getUTCHours(),
    minute: wall.getUTCMinutes(),
    second: wall.getUTCSeconds(),
  };
}

/** The wall-clock fields as if they were a UTC time, in ms; undefined when they name no real date and time. */
function wallClockAsUtcMs(wall: WallClockTime): number | undefined {
  const { year, month, day, hour, minute, second } = wall;
  const fields = [year, month, day, hour, minute, second];
  if (!fields.every(Number.isInteger) || hour > 23 || minute > 59 || second > 59 || hour < 0 || minute < 0 || second < 0) return undefined;
  // setUTCFullYear, not Date.UTC, which reads the years 0 to 99 as 1900 to 1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  // A date that rolled over (30 February became 2 March) is not the date asked for.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date.getTime();
}

/**
 * The one instant for a wall-clock time (as UTC ms) when its zone changes no offset within a day of it, or
 * undefined when it is that close to a change. Any reading t of the wall clock W satisfies t = W - offset(t), and
 * Temporal keeps every offset under 24 hours, so all readings lie within a day of W; when one span covers that
 * whole day either side, every reading has the span's offset, so there is exactly one: no gap, no overlap.
 */
function readingFarFromChanges(wallMs: number, timeZone: string): number | undefined {
  const span = spanAt(timeZone, wallMs);
  if (span.startMs <= wallMs - DAY_MS && wallMs + DAY_MS < span.endMs) return wallMs - span.offsetMs;
  return undefined;
}

/** The span of `timeZone` holding the instant `instantMs`, from the cache or else from Temporal. */
function spanAt(timeZone: string, instantMs: number): OffsetSpan {
  const spans = spansByZone.get(timeZone);
  const latestStarted = spans?.[countStartingBy(spans, instantMs) - 1];
  if (latestStarted && instantMs < latestStarted.endMs) return latestStarted;

  // Asked of Temporal before anything is stored, so that an unknown zone throws and leaves no entry behind.
  const span = spanFromTemporal(timeZone, instantMs);
  if (!spans || spans.length >= MAX_SPANS_PER_ZONE) spansByZone.set(timeZone, [span]);
  else spans.splice(countStartingBy(spans, span.startMs), 0, span);
  return span;
}

/** How many of the sorted `spans` start at or before `instantMs` (a binary search). */
function countStartingBy(spans: OffsetSpan[], instantMs: number): number {
  let low = 0;
  let high = spans.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((spans[middle] as OffsetSpan).startMs <= instantMs) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The offset at `instantMs` and how far it holds either way, between the transitions Temporal reports. */
function spanFromTemporal(timeZone: string, instantMs: number): OffsetSpan {
  const zoned = Temporal.Instant.fromEpochMilliseconds(instantMs).toZonedDateTimeISO(timeZone);
  const offsetMs = zoned.offsetNanoseconds / 1e6;
  const previous = zoned.getTimeZoneTransition('previous');
  const next = zoned.getTimeZoneTransition('next');
  // 'previous' is strictly before the instant, so when the instant is itself a transition, the offset changed at
  // the instant and the span starts there.
  let startMs = previous ? previous.epochMilliseconds : instantMs - SPAN_REACH_MS;
  if (previous && previous.offsetNanoseconds !== zoned.offsetNanoseconds) startMs = instantMs;
  const endMs = next ? next.epochMilliseconds : instantMs + SPAN_REACH_MS;
  return { startMs: Math.max(startMs, instantMs - SPAN_REACH_MS), endMs: Math.min(endMs, instantMs + SPAN_REACH_MS), offsetMs };
}
