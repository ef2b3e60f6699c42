import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Seals secrets the service must send on (a site's Kartra API key and password) with AES-256-GCM under a key from
 * the environment (SECRETS_KEY). A hash would not do: the service needs them back in clear to call Kartra. A leaked
 * database without the key shows nothing; a changed key is told apart from tampering by the key id in each sealed
 * value, so the admin can be asked to enter the credentials again instead of being shown a decryption error.
 */

const VERSION = 'v1';
const IV_BYTES = 12;

export class SecretBoxKeyMismatchError extends Error {
  constructor() {
    super('these credentials were sealed with another SECRETS_KEY; enter them again');
    this.name = 'SecretBoxKeyMismatchError';
  }
}

export interface SecretBox {
  seal(plain: string): string;
  /** Throws SecretBoxKeyMismatchError when another key sealed it, or an Error when it was altered. */
  open(sealed: string): string;
}

/**
 * `keyMaterial`: at least 32 characters of secret text (e.g. `openssl rand -base64 32`); the AES key is derived
 * from it with HKDF-SHA256, so any such string serves and none is used as a key directly.
 */
export function createSecretBox(keyMaterial: string): SecretBox {
  if (keyMaterial.length < 32) throw new Error('SECRETS_KEY must be at least 32 characters');
  const key = Buffer.from(hkdfSync('sha256', keyMaterial, 'kartra-access', 'secret-box v1', 32));
  // Names the key without revealing it: 8 hex characters of a hash of the derived key.
  const keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);

  return {
    seal(plain) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(`${VERSION}.${keyId}`));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [VERSION, keyId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
    },
    open(sealed) {
      const [version, sealedKeyId, iv, tag, body] = sealed.split('.');
      if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) throw new Error('not a sealed secret');
      if (sealedKeyId !== keyId) throw new SecretBoxKeyMismatchError();
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(`${VERSION}.${keyId}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}

/** Whether a stored value is one `seal` made (rather than a secret stored in clear before sealing existed). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(`${VERSION}.`) && stored.split('.').length === 5;
}

/**
 * How a secret the service signs with is kept: sealed when there is a box, as issued when there is none (a
 * PostgreSQL install without SECRETS_KEY). Values stored in clear before sealing existed still read, and are sealed
 * the next time they are written (a rotation).
 */
export interface StoredSecretCodec {
  store(plain: string): string;
  read(stored: string): string;
}

export function storedSecretCodec(box: SecretBox | null): StoredSecretCodec {
  return {
    store: (plain) => (box ? box.seal(plain) : plain),
    read: (stored) => {
      if (!isSealed(stored)) return stored;
      if (!box) throw new Error('this secret is sealed, and SECRETS_KEY is not set to open it');
      return box.open(stored);
    },
  };
}
