/** "1 grant", "2 grants": summaries and messages are read by site admins, so they count in plain words. */
export function countOf(count: number, singular: string, plural = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : plural}`;
}
