import { InvalidInputError } from '../../domain/errors';

/**
 * The `cursor` of an endpoint's message list, opaque as the member list's is (member-cursor.ts). Messages are listed
 * newest first by id; the cursor names the last message of the page before.
 */
export function encodeNotificationCursor(lastMessageId: number): string {
  return Buffer.from(`n:${lastMessageId}`).toString('base64url');
}

/** The message id a cursor names; a cursor the API did not give (edited, truncated, another list's) is invalid input. */
export function decodeNotificationCursor(cursor: string): number {
  const match = /^[A-Za-z0-9_-]+$/.test(cursor) ? /^n:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  if (!match?.[1]) throw new InvalidInputError('invalid cursor', [{ path: 'cursor', message: 'use the nextCursor of a previous page of this list' }]);
  return Number(match[1]);
}
