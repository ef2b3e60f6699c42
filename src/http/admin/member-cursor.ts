import { InvalidInputError } from '../../domain/errors';

/**
 * The `cursor` of the member list: opaque to clients, as the event log's is (domain/webhook-events/event-log-service.ts),
 * so the API can change how it pages without changing what clients send. Members are listed by id, oldest first;
 * the cursor names the last member of the page before.
 */
export function encodeMemberCursor(lastMemberId: number): string {
  return Buffer.from(`m:${lastMemberId}`).toString('base64url');
}

/** The member id a cursor names; a cursor the API did not give (edited, truncated, another list's) is invalid input. */
export function decodeMemberCursor(cursor: string): number {
  const match = /^[A-Za-z0-9_-]+$/.test(cursor) ? /^m:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  if (!match?.[1]) throw new InvalidInputError('invalid cursor', [{ path: 'cursor', message: 'use the nextCursor of a previous page of this list' }]);
  return Number(match[1]);
}
