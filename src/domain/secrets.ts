import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Random URL-safe secret; 32 bytes = 256 bits, well above the 128 bits the webhook URL needs. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Secrets here are long random strings, not passwords, so SHA-256 suffices to store them: there is nothing for a
 * slow hash to protect against, and hashing keeps them out of a leaked database.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatchesHash(presented: string, storedHash: string): boolean {
  const presentedHash = Buffer.from(hashSecret(presented), 'hex');
  const expected = Buffer.from(storedHash, 'hex');
  return presentedHash.length === expected.length && timingSafeEqual(presentedHash, expected);
}
