import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, spec "Signature scheme"): HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<body>` with the secret's bytes (the base64 after `whsec_`), sent as `v1,<base64>`.
 * Several signatures are separated by spaces, which is how a rotated secret keeps verifying during its grace period.
 * Written here with node:crypto rather than the `standardwebhooks` package so the domain needs no dependency; the
 * tests verify every signature with that package, the specification's reference implementation.
 */

const SECRET_PREFIX = 'whsec_';

export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

export function signatureOf(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', secretBytes(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The three Standard Webhooks headers of one attempt, signed with every secret given (current first). */
export function signedHeaders(secrets: string[], messageId: string, sentAt: Date, body: string): Record<string, string> {
  const timestampSeconds = Math.floor(sentAt.getTime() / 1000);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': secrets.map((secret) => signatureOf(secret, messageId, timestampSeconds, body)).join(' '),
  };
}

/** A stable message id: the `webhook-id`, carried unchanged by every retry and resend of the message. */
export function newMessageId(): string {
  return `msg_${randomBytes(16).toString('hex')}`;
}
