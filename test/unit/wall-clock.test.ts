import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import { instantToWallClock, isValidTimeZone, wallClockToInstant, type WallClockTime } from '../../src/domain/wall-clock';

/**
 * The wall-clock module answers most times from its cache of offset spans and only the rest from Temporal; these
 * tests hold every answer, from either path, to Temporal's own 'compatible' resolution.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Zones with whole-hour changes, a 30-minute one (Lord Howe), a two-hour one (Troll), changes at midnight
 * (Santiago), a skipped day (Apia, 2011), odd offsets (Chatham +12:45, St John's -3:30, Kathmandu +5:45), Ramadan
 * suspensions (Casablanca), no changes lately (Kolkata) and none ever (UTC). */
const ZONES = [
  'America/New_York',
  'Europe/Berlin',
  'Australia/Lord_Howe',
  'Antarctica/Troll',
  'America/Santiago',
  'Pacific/Apia',
  'Pacific/Chatham',
  'America/St_Johns',
  'Asia/Kathmandu',
  'Africa/Casablanca',
  'Asia/Kolkata',
  'UTC',
];

const fieldsOf = (zoned: Temporal.ZonedDateTime | Temporal.PlainDateTime): WallClockTime => ({
  year: zoned.year,
  month: zoned.month,
  day: zoned.day,
  hour: zoned.hour,
  minute: zoned.minute,
  second: zoned.second,
});

/** A wall-clock time given as UTC ms, as fields. */
const wallAt = (wallMs: number): WallClockTime => fieldsOf(Temporal.Instant.fromEpochMilliseconds(wallMs).toZonedDateTimeISO('UTC'));

const temporalInstant = (wall: WallClockTime, timeZone: string) =>
  new Date(Temporal.ZonedDateTime.from({ ...wall, timeZone }, { disambiguation: 'compatible' }).epochMilliseconds).toISOString();

const temporalWall = (instantMs: number, timeZone: string) => fieldsOf(Temporal.Instant.fromEpochMilliseconds(instantMs).toZonedDateTimeISO(timeZone));

const text = (wall: WallClockTime) => Temporal.PlainDateTime.from(wall).toString();

/** Every offset change of `timeZone` from `fromYear` up to (not including) `toYear`, per Temporal. */
function transitions(timeZone: string, fromYear: number, toYear: number): { atMs: number; offsetBeforeMs: number; offsetAfterMs: number }[] {
  const found = [];
  let zoned: Temporal.ZonedDateTime | null = Temporal.ZonedDateTime.from({ year: fromYear, month: 1, day: 1, timeZone });
  const endMs = Date.UTC(toYear, 0, 1);
  while ((zoned = zoned.getTimeZoneTransition('next')) && zoned.epochMilliseconds < endMs) {
    const before = Temporal.Instant.fromEpochMilliseconds(zoned.epochMilliseconds - 1).toZonedDateTimeISO(timeZone);
    found.push({ atMs: zoned.epochMilliseconds, offsetBeforeMs: before.offsetNanoseconds / 1e6, offsetAfterMs: zoned.offsetNanoseconds / 1e6 });
  }
  return found;
}

/** Years holding each zone's interesting changes: recent DST, else Apia's skipped day, Kolkata's war time, Kathmandu's
 * move to +5:45. */
const YEARS: Record<string, [number, number]> = { 'Pacific/Apia': [2010, 2013], 'Asia/Kolkata': [1941, 1946], 'Asia/Kathmandu': [1985, 1987] };

describe('wallClockToInstant', () => {
  it.each([
    ['America/New_York', '2025-03-09T02:30', '2025-03-09T07:30:00.000Z', 'gap: 02:30 EST is 03:30 EDT'],
    ['America/New_York', '2025-11-02T01:30', '2025-11-02T05:30:00.000Z', 'overlap: the first 01:30, EDT'],
    ['Europe/Berlin', '2025-03-30T02:30', '2025-03-30T01:30:00.000Z', 'gap: 02:30 CET is 03:30 CEST'],
    ['Europe/Berlin', '2025-10-26T02:30', '2025-10-26T00:30:00.000Z', 'overlap: the first 02:30, CEST'],
    ['Australia/Lord_Howe', '2025-10-05T02:15', '2025-10-04T15:45:00.000Z', 'gap of 30 minutes: 02:15 +10:30 is 02:45 +11'],
    ['Australia/Lord_Howe', '2025-04-06T01:45', '2025-04-05T14:45:00.000Z', 'overlap of 30 minutes: the first 01:45, +11'],
    ['America/Santiago', '2025-09-07T00:30', '2025-09-07T04:30:00.000Z', 'gap at midnight: 00:30 -04 is 01:30 -03'],
    ['America/Santiago', '2025-04-05T23:30', '2025-04-06T02:30:00.000Z', 'overlap before midnight: the first 23:30, -03'],
    ['Pacific/Apia', '2011-12-30T12:00', '2011-12-30T22:00:00.000Z', 'the skipped day: 30 December 12:00 -10 is 31 December 12:00 +14'],
    ['Asia/Kolkata', '2025-06-01T12:00', '2025-06-01T06:30:00.000Z', 'no change: +05:30'],
    ['UTC', '2025-03-09T02:30', '2025-03-09T02:30:00.000Z', 'UTC is the wall clock'],
  ])('reads %s %s as %s (%s)', (timeZone, wall, expected) => {
    expect(wallClockToInstant(fieldsOf(Temporal.PlainDateTime.from(wall)), timeZone)?.toISOString()).toBe(expected);
  });

  it.each(ZONES)('reads every wall-clock time within a day of %s\'s changes as Temporal does, to the minute near each change', (timeZone) => {
    const [fromYear, toYear] = YEARS[timeZone] ?? [2025, 2027];
    const changes = transitions(timeZone, fromYear, toYear);
    expect(changes.length > 0).toBe(timeZone !== 'UTC');
    const mismatches: string[] = [];
    for (const change of changes) {
      // The wall clock just before the change; the fast path takes over a day either side, so go a little past that.
      const wallAtChangeMs = change.atMs + change.offsetBeforeMs;
      const near = Math.abs(change.offsetAfterMs - change.offsetBeforeMs) + 2 * HOUR_MS;
      const walls: number[] = [];
      for (let ms = wallAtChangeMs - 26 * HOUR_MS; ms <= wallAtChangeMs + 26 * HOUR_MS; ms += 15 * 60_000) walls.push(ms);
      for (let ms = wallAtChangeMs - near; ms <= wallAtChangeMs + near; ms += 60_000) walls.push(ms);
      for (const edge of [wallAtChangeMs - DAY_MS, wallAtChangeMs + DAY_MS]) walls.push(edge - 1000, edge, edge + 1000);
      for (const wallMs of walls) {
        const wall = wallAt(wallMs);
        const read = wallClockToInstant(wall, timeZone)?.toISOString();
        const expected = temporalInstant(wall, timeZone);
        if (read !== expected) mismatches.push(`${text(wall)}: ${read} instead of ${expected}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('reads any time from 1900 to 2100 in any of the zones as Temporal does, whatever was asked before', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1900, 0, 2), max: Date.UTC(2100, 0, 1) }), (timeZone, ms) => {
        const wall = wallAt(Math.floor(ms / 1000) * 1000);
        expect(wallClockToInstant(wall, timeZone)?.toISOString()).toBe(temporalInstant(wall, timeZone));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    [{ year: 2025, month: 2, day: 30, hour: 10, minute: 0, second: 0 }, '30 February'],
    [{ year: 2025, month: 2, day: 29, hour: 10, minute: 0, second: 0 }, '29 February in a common year'],
    [{ year: 2025, month: 13, day: 1, hour: 0, minute: 0, second: 0 }, 'month 13'],
    [{ year: 2025, month: 3, day: 4, hour: 24, minute: 0, second: 0 }, '24:00'],
    [{ year: 2025, month: 3, day: 4, hour: 10, minute: 60, second: 0 }, 'minute 60'],
    [{ year: 2025, month: 3, day: 4, hour: 10, minute: 0, second: 60 }, 'second 60'],
    [{ year: 2025, month: 3, day: 4, hour: 10, minute: 0.5, second: 0 }, 'half a minute'],
  ])('refuses %j (%s)', (wall) => {
    expect(wallClockToInstant(wall, 'America/New_York')).toBeUndefined();
  });

  it('reads 29 February of a leap year and the years 0 to 99 as themselves, not as 1900 to 1999', () => {
    expect(wallClockToInstant({ year: 2024, month: 2, day: 29, hour: 10, minute: 0, second: 0 }, 'UTC')?.toISOString()).toBe('2024-02-29T10:00:00.000Z');
    expect(wallClockToInstant({ year: 50, month: 6, day: 1, hour: 0, minute: 0, second: 0 }, 'UTC')?.toISOString()).toBe('0050-06-01T00:00:00.000Z');
  });
});

describe('instantToWallClock', () => {
  it('shows 07:30Z on the New York spring-forward day as 03:30, and both readings of the fall-back 01:30 as 01:30', () => {
    expect(instantToWallClock(new Date('2025-03-09T07:30:00Z'), 'America/New_York')).toEqual({ year: 2025, month: 3, day: 9, hour: 3, minute: 30, second: 0 });
    expect(instantToWallClock(new Date('2025-11-02T05:30:00Z'), 'America/New_York')).toEqual({ year: 2025, month: 11, day: 2, hour: 1, minute: 30, second: 0 });
    expect(instantToWallClock(new Date('2025-11-02T06:30:00Z'), 'America/New_York')).toEqual({ year: 2025, month: 11, day: 2, hour: 1, minute: 30, second: 0 });
  });

  it.each(ZONES)('shows the instants around %s\'s changes, to the second at each change, as Temporal does', (timeZone) => {
    const [fromYear, toYear] = YEARS[timeZone] ?? [2025, 2027];
    const mismatches: string[] = [];
    for (const change of transitions(timeZone, fromYear, toYear)) {
      const instants = [-1000, -500, -1, 0, 1, 500, 1000];
      for (let ms = -3 * HOUR_MS; ms <= 3 * HOUR_MS; ms += 5 * 60_000) instants.push(ms);
      for (const offset of instants) {
        const instantMs = change.atMs + offset;
        const shown = text(instantToWallClock(new Date(instantMs), timeZone));
        const expected = text(temporalWall(instantMs, timeZone));
        if (shown !== expected) mismatches.push(`${new Date(instantMs).toISOString()}: ${shown} instead of ${expected}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('shows any instant from 1900 to 2100 in any of the zones as Temporal does', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1900, 0, 2), max: Date.UTC(2100, 0, 1) }), (timeZone, ms) => {
        expect(instantToWallClock(new Date(ms), timeZone)).toEqual(temporalWall(ms, timeZone));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back the wall clock it shows as the same instant, or in an overlap as the earlier one showing it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1970, 0, 1) / 1000, max: Date.UTC(2060, 0, 1) / 1000 }), (timeZone, seconds) => {
        const wall = instantToWallClock(new Date(seconds * 1000), timeZone);
        const readBack = wallClockToInstant(wall, timeZone);
        expect(readBack && instantToWallClock(readBack, timeZone)).toEqual(wall);
        expect(readBack?.getTime()).toBeLessThanOrEqual(seconds * 1000);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('isValidTimeZone', () => {
  it('accepts IANA zones and their aliases and refuses garbage and bare offsets', () => {
    for (const zone of [...ZONES, 'US/Eastern', 'Asia/Calcutta', 'Etc/GMT+5']) expect([zone, isValidTimeZone(zone)]).toEqual([zone, true]);
    for (const zone of ['Mars/Olympus_Mons', '', '+05:00', 'Europe/Berlin ']) expect([zone, isValidTimeZone(zone)]).toEqual([zone, false]);
  });
});
