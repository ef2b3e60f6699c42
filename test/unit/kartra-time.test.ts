import fc from 'fast-check';
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

const intlFormatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset at an instant, straight from Intl with no cache. */
function intlOffsetMs(timeZone: string, instantMs: number): number {
  let formatter = intlFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    intlFormatters.set(timeZone, formatter);
  }
  const parts = formatter.formatToParts(new Date(instantMs));
  const field = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  return Date.UTC(field('year'), field('month') - 1, field('day'), field('hour'), field('minute'), field('second')) - instantMs;
}

/** The reading parseKartraTime gives for a wall-clock time (as UTC fields), computed from Intl with no cache. */
function readWithIntl(wallClockAsUtc: number, timeZone: string): string {
  const offsetBefore = intlOffsetMs(timeZone, wallClockAsUtc - 86_400_000);
  const offsetAfter = intlOffsetMs(timeZone, wallClockAsUtc + 86_400_000);
  for (const offset of [offsetBefore, offsetAfter]) {
    if (intlOffsetMs(timeZone, wallClockAsUtc - offset) === offset) return new Date(wallClockAsUtc - offset).toISOString();
  }
  return new Date(wallClockAsUtc - offsetBefore).toISOString();
}

const pad = (value: number) => String(value).padStart(2, '0');
const kartraText = (wallClockAsUtc: number) => {
  const wall = new Date(wallClockAsUtc);
  return `${wall.getUTCFullYear()}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())} ${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}`;
};

describe('parseKartraTime with offsets cached per hour', () => {
  // Zones whose changes are not whole hours or not on the hour: Lord Howe shifts by 30 minutes, Chatham sits at
  // +12:45/+13:45, St John's at -3:30/-2:30, Kathmandu at +5:45.
  const zones = ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/St_Johns', 'Asia/Kathmandu'];

  it.each(zones)('reads every minute of the wall clock around %s\'s 2025 changes as Intl does', (timeZone) => {
    let changes = 0;
    for (let ms = Date.UTC(2025, 0, 1); ms < Date.UTC(2026, 0, 1); ms += 15 * 60_000) {
      const before = intlOffsetMs(timeZone, ms);
      if (before === intlOffsetMs(timeZone, ms + 15 * 60_000)) continue;
      changes++;
      // The wall clock just before the change, give or take two hours, minute by minute: gaps and overlaps included.
      const wallAtChange = ms + before;
      for (let wall = wallAtChange - 2 * 3_600_000; wall <= wallAtChange + 2 * 3_600_000; wall += 60_000) {
        expect([kartraText(wall), parseKartraTime(kartraText(wall), timeZone)?.toISOString()]).toEqual([kartraText(wall), readWithIntl(wall, timeZone)]);
      }
    }
    expect(changes).toBe(timeZone === 'Asia/Kathmandu' ? 0 : 2);
  });

  it('reads any time from 1970 to 2060 as Intl does', () => {
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.UTC(1970, 0, 2), max: Date.UTC(2060, 0, 1) }), (timeZone, ms) => {
        const wall = Math.floor(ms / 1000) * 1000;
        expect(parseKartraTime(kartraText(wall), timeZone)?.toISOString()).toBe(readWithIntl(wall, timeZone));
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
