import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import { isValidTimeZone, parseKartraTime } from '../../src/domain/kartra/kartra-time';

const NEW_YORK = 'America/New_York';
const iso = (raw: string, zone = NEW_YORK) => parseKartraTime(raw, zone)?.toISOString();

describe('parseKartraTime', () => {
  it('reads a winter time as UTC-5 (EST)', () => {
    expect(iso('2025-01-15 09:00:00')).toBe('2025-01-15T14:00:00.000Z');
    expect(iso('2025-03-04 09:12:05')).toBe('2025-03-04T14:12:05.000Z');
  });

  it('reads a summer time as UTC-4 (EDT)', () => {
    expect(iso('2025-07-04 12:00:00')).toBe('2025-07-04T16:00:00.000Z');
    expect(iso('2025-06-11 08:30:19')).toBe('2025-06-11T12:30:19.000Z');
  });

  it('accepts a " EST" suffix and reads the same instant as without it', () => {
    expect(iso('2025-03-04 09:12:05 EST')).toBe('2025-03-04T14:12:05.000Z');
    // Kartra calls its clock "EST" all year; the suffix names the clock, not a fixed UTC-5 offset.
    expect(iso('2025-06-11 08:30:19 EST')).toBe(iso('2025-06-11 08:30:19'));
    expect(iso('  2025-06-11 08:30:19  ')).toBe('2025-06-11T12:30:19.000Z');
  });

  it('accepts a time without seconds, as calendar events send it', () => {
    expect(iso('2020-12-11 09:00')).toBe('2020-12-11T14:00:00.000Z');
  });

  it('moves a wall-clock time inside the spring-forward gap forward by the gap, as Temporal and java.time do', () => {
    // 2025-03-09 02:00 EST jumps to 03:00 EDT: 02:30 never happens on a New York clock.
    expect(iso('2025-03-09 01:59:59')).toBe('2025-03-09T06:59:59.000Z');
    expect(iso('2025-03-09 02:30:00')).toBe('2025-03-09T07:30:00.000Z');
    expect(iso('2025-03-09 03:00:00')).toBe('2025-03-09T07:00:00.000Z');
    expect(iso('2025-03-09 03:30:00')).toBe('2025-03-09T07:30:00.000Z');
  });

  it('reads an ambiguous fall-back time as its first occurrence (EDT)', () => {
    // 2025-11-02 02:00 EDT falls back to 01:00 EST: 01:30 happens twice, at 05:30Z and 06:30Z.
    expect(iso('2025-11-02 00:59:59')).toBe('2025-11-02T04:59:59.000Z');
    expect(iso('2025-11-02 01:30:00')).toBe('2025-11-02T05:30:00.000Z');
    expect(iso('2025-11-02 02:00:00')).toBe('2025-11-02T07:00:00.000Z');
  });

  it('reads the wall clock in the configured zone', () => {
    expect(iso('2025-07-04 12:00:00', 'UTC')).toBe('2025-07-04T12:00:00.000Z');
    expect(iso('2025-07-04 12:00:00', 'Europe/London')).toBe('2025-07-04T11:00:00.000Z');
    expect(iso('2025-01-04 12:00:00', 'Europe/London')).toBe('2025-01-04T12:00:00.000Z');
  });

  it.each(['0000-00-00 00:00:00', '0000-00-00', ''])('treats Kartra\'s "not set" value %j as no time', (raw) => {
    expect(parseKartraTime(raw, NEW_YORK)).toBeUndefined();
  });

  it.each(['yesterday', '03 Mar 2025 10:14:22', '2025-02-30 10:00:00', '2025-13-01 00:00:00', '2025-03-04 24:00:00', '2025-03-04 10:60:00', '2025-03-04 09:12:05 PST', '2025-03-04 09:12:05; DROP TABLE'])(
    'treats garbage %j as no time',
    (raw) => {
      expect(parseKartraTime(raw, NEW_YORK)).toBeUndefined();
    },
  );
});

/** Temporal's reading of a wall-clock time (as UTC fields), with 'compatible' disambiguation: the definition. */
function readWithTemporal(wallClockAsUtc: number, timeZone: string): string {
  const wall = Temporal.Instant.fromEpochMilliseconds(wallClockAsUtc).toZonedDateTimeISO('UTC').toPlainDateTime();
  return new Date(wall.toZonedDateTime(timeZone, { disambiguation: 'compatible' }).epochMilliseconds).toISOString();
}

/** The instants of the zone's offset changes in 2025, per Temporal. */
function changesIn2025(timeZone: string): number[] {
  const found: number[] = [];
  let zoned: Temporal.ZonedDateTime | null = Temporal.ZonedDateTime.from({ year: 2025, month: 1, day: 1, timeZone });
  while ((zoned = zoned.getTimeZoneTransition('next')) && zoned.year === 2025) found.push(zoned.epochMilliseconds);
  return found;
}

const pad = (value: number) => String(value).padStart(2, '0');
const kartraText = (wallClockAsUtc: number) => {
  const wall = new Date(wallClockAsUtc);
  return `${wall.getUTCFullYear()}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())} ${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}`;
};

describe('parseKartraTime around daylight-saving changes', () => {
  // Zones whose changes are not whole hours or not on the hour: Lord Howe shifts by 30 minutes, Chatham sits at
  // +12:45/+13:45, St John's at -3:30/-2:30, Kathmandu at +5:45.
  const zones = ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/St_Johns', 'Asia/Kathmandu'];

  it.each(zones)('reads every minute of the wall clock around %s\'s 2025 changes as Temporal does', (timeZone) => {
    const changes = changesIn2025(timeZone);
    const mismatches: string[] = [];
    for (const changeMs of changes) {
      // The wall clock just before the change, give or take two hours, minute by minute: gaps and overlaps included.
      const wallAtChange = changeMs + Temporal.Instant.fromEpochMilliseconds(changeMs - 1).toZonedDateTimeISO(timeZone).offsetNanoseconds / 1e6;
      for (let wall = wallAtChange - 2 * 3_600_000; wall <= wallAtChange + 2 * 3_600_000; wall += 60_000) {
        const read = parseKartraTime(kartraText(wall), timeZone)?.toISOString();
        if (read !== readWithTemporal(wall, timeZone)) mismatches.push(`${kartraText(wall)}: ${read} instead of ${readWithTemporal(wall, timeZone)}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(changes.length).toBe(timeZone === 'Asia/Kathmandu' ? 0 : 2);
  });

  it('reads any time from 1970 to 2060 as Temporal does', () => {
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.UTC(1970, 0, 2), max: Date.UTC(2060, 0, 1) }), (timeZone, ms) => {
        const wall = Math.floor(ms / 1000) * 1000;
        expect(parseKartraTime(kartraText(wall), timeZone)?.toISOString()).toBe(readWithTemporal(wall, timeZone));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isValidTimeZone', () => {
  it('accepts IANA zones and refuses garbage', () => {
    expect(isValidTimeZone(NEW_YORK)).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});
