/** Times are stored as integer milliseconds since the epoch. */
export const toMs = (date: Date): number => date.getTime();
export const toDate = (ms: number): Date => new Date(ms);
export const toDateOrNull = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
export const toMsOrNull = (date: Date | null | undefined): number | null => (date ? date.getTime() : null);
