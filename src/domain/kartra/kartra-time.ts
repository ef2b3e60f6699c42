/**
 * Kartra writes times as naive "YYYY-MM-DD HH:MM:SS" strings it calls "EST", without saying whether that is a fixed
 * UTC-5 or US Eastern time with daylight saving (REFERENCE.md §9). We keep the raw string and read it in a
 * configurable IANA zone (KARTRA_TIMEZONE, America/New_York by default).
 */
const NAIVE_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:\s*(?:EST|EDT|ET))?$/i;

const DAY_MS = 24 * 60 * 60 * 1000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Offset of `timeZone` from UTC at `instantMs`, in milliseconds (negative west of Greenwich), from Intl. */
function zoneOffsetFromIntl(timeZone: string, instantMs: number): number {
  const parts = formatterFor(timeZone).formatToParts(new Date(instantMs));
  const field = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const asUtc = Date.UTC(field('year'), field('month') - 1, field('day'), field('hour'), field('minute'), field('second'));
  return asUtc - Math.floor(instantMs / 1000) * 1000;
}

const HOUR_MS = 60 * 60 * 1000;
const MAX_CACHED_OFFSETS = 50_000;
/** `${timeZone} ${hour start}` -> the zone's offset at that instant. */
const offsetAtHourStart = new Map<string, number>();

function cachedOffsetAtHourStart(timeZone: string, hourStartMs: number): number {
  const key = `${timeZone} ${hourStartMs}`;
  let offset = offsetAtHourStart.get(key);
  if (offset === undefined) {
    if (offsetAtHourStart.size >= MAX_CACHED_OFFSETS) offsetAtHourStart.clear();
    offset = zoneOffsetFromIntl(timeZone, hourStartMs);
    offsetAtHourStart.set(key, offset);
  }
  return offset;
}

/**
 * Offset of `timeZone` from UTC at `instantMs`, in milliseconds (negative west of Greenwich). Intl's formatToParts
 * costs about 8 µs a call and reading one Kartra time takes three, so offsets are cached per UTC hour: when the
 * offset is the same at both ends of the hour, no zone changes within it (none changes twice in one hour and back),
 * and only an hour holding a change is asked of Intl for the exact instant.
 */
function zoneOffsetMs(timeZone: string, instantMs: number): number {
  const hourStartMs = Math.floor(instantMs / HOUR_MS) * HOUR_MS;
  const atStart = cachedOffsetAtHourStart(timeZone, hourStartMs);
  if (atStart === cachedOffsetAtHourStart(timeZone, hourStartMs + HOUR_MS)) return atStart;
  return zoneOffsetFromIntl(timeZone, instantMs);
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The instant a Kartra wall-clock time denotes in `timeZone`, or undefined when the string is not one. */
export function parseKartraTime(raw: string, timeZone: string): Date | undefined {
  const match = NAIVE_TIME.exec(raw.trim());
  if (!match) return undefined;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((part) => Number(part ?? 0));
  // Kartra's "not set" value for dates.
  if (year === 0) return undefined;
  const wallClockAsUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(wallClockAsUtc);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  // The zone's offsets a day either side bracket any daylight-saving change near this wall-clock time.
  const offsetBefore = zoneOffsetMs(timeZone, wallClockAsUtc - DAY_MS);
  const offsetAfter = zoneOffsetMs(timeZone, wallClockAsUtc + DAY_MS);
  // The first reading the zone's clock really shows: in a fall-back overlap, the earlier of the two.
  for (const offset of [offsetBefore, offsetAfter]) {
    const instant = wallClockAsUtc - offset;
    if (zoneOffsetMs(timeZone, instant) === offset) return new Date(instant);
  }
  // In a spring-forward gap the clock never shows this time; read it with the offset from before the change, which
  // moves it forward by the gap (02:30 EST is 03:30 EDT), as Temporal's "compatible" choice and java.time do.
  return new Date(wallClockAsUtc - offsetBefore);
}
