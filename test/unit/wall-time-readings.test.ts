import { parseKartraTime } from '../../src/domain/kartra/kartra-time';
import { dateToWallTime, wallTimeToDate } from '../../src/http/pages/format';

/**
 * Issue 11, point 9: a Kartra time and an admin's "re-apply since" input naming the same wall clock in the same zone
 * were read an hour apart in daylight-saving gaps and overlaps. Both now read through domain/wall-clock.ts.
 */

const CASES: [zone: string, wall: string, instant: string, what: string][] = [
  ['America/New_York', '2025-03-09T02:30', '2025-03-09T07:30:00.000Z', 'spring gap: 02:30 EST is 03:30 EDT'],
  ['America/New_York', '2025-11-02T01:30', '2025-11-02T05:30:00.000Z', 'fall overlap: the first 01:30, EDT'],
  ['Europe/Berlin', '2025-03-30T02:30', '2025-03-30T01:30:00.000Z', 'spring gap: 02:30 CET is 03:30 CEST'],
  ['Europe/Berlin', '2025-10-26T02:30', '2025-10-26T00:30:00.000Z', 'autumn overlap: the first 02:30, CEST'],
  ['Australia/Lord_Howe', '2025-10-05T02:15', '2025-10-04T15:45:00.000Z', '30-minute gap: 02:15 +10:30 is 02:45 +11'],
  ['Australia/Lord_Howe', '2025-04-06T01:45', '2025-04-05T14:45:00.000Z', '30-minute overlap: the first 01:45, +11'],
  ['America/Santiago', '2025-09-07T00:30', '2025-09-07T04:30:00.000Z', 'gap at midnight: 00:30 -04 is 01:30 -03'],
  ['America/Santiago', '2025-04-05T23:30', '2025-04-06T02:30:00.000Z', 'overlap before midnight: the first 23:30, -03'],
  ['Pacific/Apia', '2011-12-30T12:00', '2011-12-30T22:00:00.000Z', 'the day Samoa skipped: read with the offset before it'],
  ['Asia/Kolkata', '2025-03-09T02:30', '2025-03-08T21:00:00.000Z', 'no change: +05:30'],
  ['UTC', '2025-10-26T02:30', '2025-10-26T02:30:00.000Z', 'UTC is the wall clock'],
];

describe('a Kartra time and an admin input naming the same wall clock', () => {
  it.each(CASES)('are the same instant in %s at %s: %s (%s)', (zone, wall, instant) => {
    const kartra = parseKartraTime(wall.replace('T', ' ') + ':00', zone)?.toISOString();
    const admin = wallTimeToDate(wall, zone)?.toISOString();
    expect({ kartra, admin }).toEqual({ kartra: instant, admin: instant });
  });

  it.each(CASES)('prefill an admin input in %s at %s with the wall clock that reads back as the same instant', (zone, _wall, instant) => {
    const shown = dateToWallTime(new Date(instant), zone);
    expect(wallTimeToDate(shown, zone)?.toISOString()).toBe(instant);
  });

  it('shows the later reading of an overlap with the same wall clock as the earlier one', () => {
    expect(dateToWallTime(new Date('2025-11-02T05:30:00Z'), 'America/New_York')).toBe('2025-11-02T01:30');
    expect(dateToWallTime(new Date('2025-11-02T06:30:00Z'), 'America/New_York')).toBe('2025-11-02T01:30');
    expect(dateToWallTime(new Date('2025-10-26T01:30:00Z'), 'Europe/Berlin')).toBe('2025-10-26T02:30');
  });

  it('refuses an admin input that names no real time, as a Kartra time is refused', () => {
    expect(wallTimeToDate('2025-02-30T10:00', 'Europe/Berlin')).toBeNull();
    expect(parseKartraTime('2025-02-30 10:00:00', 'Europe/Berlin')).toBeUndefined();
    expect(wallTimeToDate('2025-03-04T24:00', 'Europe/Berlin')).toBeNull();
    expect(wallTimeToDate('yesterday', 'Europe/Berlin')).toBeNull();
  });
});
