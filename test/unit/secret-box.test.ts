import { createSecretBox, isSealed, SecretBoxKeyMismatchError, storedSecretCodec } from '../../src/domain/secret-box';

const KEY = 'a-key-of-at-least-thirty-two-characters!';

describe('the secret box that seals credentials at rest', () => {
  it('opens what it sealed, and never seals the same text to the same value twice', () => {
    const box = createSecretBox(KEY);
    const first = box.seal('kartra-password');
    const second = box.seal('kartra-password');
    expect(first).not.toBe(second);
    expect(first).not.toContain('kartra-password');
    expect(box.open(first)).toBe('kartra-password');
    expect(box.open(second)).toBe('kartra-password');
    expect(isSealed(first)).toBe(true);
    expect(isSealed('whsec_abc')).toBe(false);
  });

  it('tells a value sealed under another key from one that was altered', () => {
    const sealed = createSecretBox(KEY).seal('secret');
    expect(() => createSecretBox(`${KEY}-rotated`).open(sealed)).toThrow(SecretBoxKeyMismatchError);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4] ?? '', 'base64url');
    body[0] = (body[0] ?? 0) ^ 1;
    parts[4] = body.toString('base64url');
    expect(() => createSecretBox(KEY).open(parts.join('.'))).toThrow(/unable to authenticate|Unsupported state/);
  });

  it('refuses a key shorter than 32 characters', () => {
    expect(() => createSecretBox('short')).toThrow('SECRETS_KEY must be at least 32 characters');
  });

  it('stores in clear without a box, and reads values stored in clear before sealing existed', () => {
    expect(storedSecretCodec(null).store('whsec_x')).toBe('whsec_x');
    const codec = storedSecretCodec(createSecretBox(KEY));
    expect(codec.read('whsec_legacy')).toBe('whsec_legacy');
    expect(codec.read(codec.store('whsec_new'))).toBe('whsec_new');
    expect(() => storedSecretCodec(null).read(codec.store('whsec_new'))).toThrow('SECRETS_KEY is not set');
  });
});
