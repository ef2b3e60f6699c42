import fc from 'fast-check';
import { decodeFormComponent, readFormFields } from '../../src/domain/kartra/form-fields';
import { parseKartraBody } from '../../src/domain/kartra/parse-kartra-body';
import { redactKartraBody } from '../../src/domain/kartra/redact-body';
import { ipnFixtureFields } from '../support/kartra-fixtures';

const SECRET = 'wc-ipn-3f9a71c2';
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const fields = ipnFixtureFields('01-sale.one-time.dana.txt').filter(([name]) => name !== 'secret_key');

/** Each character as itself or as a percent-escape in upper or lower case hex: every spelling a form decoder reads back. */
const spelled = (text: string) =>
  fc.tuple(...[...text].map((char) => fc.constantFrom(char, `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`, `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`))).map((parts) => parts.join(''));

const whiteSpace = fc.constantFrom('', ' ', '\n', '\r\n', '\t ');

const urlencodedSpelling = fc
  .record({
    name: spelled('secret_key'),
    value: spelled(SECRET),
    at: fc.nat({ max: fields.length }),
    before: whiteSpace,
    after: whiteSpace,
    contentType: fc.constantFrom(undefined, 'application/x-www-form-urlencoded', 'text/plain'),
  })
  .map(({ name, value, at, before, after, contentType }) => {
    const pairs = fields.map(([key, fieldValue]) => `${encodeURIComponent(key)}=${encodeURIComponent(fieldValue)}`);
    pairs.splice(at, 0, `${name}=${value}`);
    return { body: `${before}${pairs.join('&')}${after}`, contentType };
  });

const headerCase = (text: string) => fc.tuple(...[...text].map((char) => fc.constantFrom(char.toLowerCase(), char.toUpperCase()))).map((parts) => parts.join(''));

const multipartSpelling = fc
  .record({
    disposition: headerCase('content-disposition'),
    nameParameter: headerCase('name'),
    extraHeader: fc.constantFrom('', 'Content-Type: text/plain; charset=utf-8\r\n', 'X-Part: 1\r\n'),
    at: fc.nat({ max: fields.length }),
    boundary: fc.constantFrom('KartraBoundary7', '----WebKitFormBoundaryZz9', 'b'),
    declared: fc.boolean(),
  })
  .map(({ disposition, nameParameter, extraHeader, at, boundary, declared }) => {
    const parts = fields.map(([key, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`);
    parts.splice(at, 0, `--${boundary}\r\n${disposition}: form-data; ${nameParameter}="secret_key"\r\n${extraHeader}\r\n${SECRET}\r\n`);
    return { body: `${parts.join('')}--${boundary}--\r\n`, contentType: declared ? `multipart/form-data; boundary=${boundary}` : undefined };
  });

describe('the form decoder the parser and the redaction share', () => {
  it('decodes every component exactly as URLSearchParams does', () => {
    const component = fc.oneof(fc.string(), fc.stringMatching(/^[%+a-fA-F0-9zZ&=]{0,20}$/), fc.uint8Array({ maxLength: 12 }).map((bytes) => [...bytes].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')));
    fc.assert(
      fc.property(component, (raw) => {
        const expected = [...new URLSearchParams(`x=${raw.replace(/[&#]/g, '')}`)][0]?.[1] ?? '';
        return decodeFormComponent(raw.replace(/[&#]/g, '')) === expected;
      }),
      { numRuns: 2000, seed: SEED },
    );
  });

  it('reads the fields of a form body as URLSearchParams does, with the offsets of each value', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 12 }), { minKeys: 1, maxKeys: 6 }), (record) => {
        const body = `a=1&${new URLSearchParams(record).toString()}`;
        const read = readFormFields(body, undefined) ?? [];
        const expected = [...new URLSearchParams(body)];
        return read.length === expected.length && read.every((field, index) => field.name === expected[index]?.[0] && field.value === expected[index]?.[1] && decodeFormComponent(body.slice(field.valueStart, field.valueEnd)) === field.value);
      }),
      { numRuns: 1000, seed: SEED },
    );
  });
});

describe('redacting the IPN secret_key in every spelling the parser reads', () => {
  it.each([
    ['urlencoded (escapes in name and value, white space around the body, any position)', urlencodedSpelling],
    ['multipart (header case, extra part headers, with or without a declared boundary)', multipartSpelling],
  ])('masks it in %s', (_label, spellings) => {
    let tried = 0;
    fc.assert(
      fc.property(spellings, ({ body, contentType }) => {
        tried++;
        // The generator only makes spellings the parser really reads as the secret...
        const parsed = parseKartraBody(Buffer.from(body), contentType, 'America/New_York');
        if (!parsed.ok || parsed.event.ipnSecret !== SECRET) return false;
        // ...and the redacted text neither shows it nor decodes back to it.
        const redacted = redactKartraBody(body, contentType);
        const reread = parseKartraBody(Buffer.from(redacted), contentType, 'America/New_York');
        return !redacted.includes(SECRET) && reread.ok && reread.event.ipnSecret === '[redacted]';
      }),
      { numRuns: 1000, seed: SEED },
    );
    expect(tried).toBe(1000);
  });

  it('keeps every other field of the body as it was', () => {
    const body = `transaction_type=sale&secret%5Fkey=${SECRET}&lead_email=dana%40example.com`;
    expect(redactKartraBody(body)).toBe('transaction_type=sale&secret%5Fkey=[redacted]&lead_email=dana%40example.com');
    expect(redactKartraBody(` secret_key=${SECRET}&a=1`)).toBe(' secret_key=[redacted]&a=1');
  });
});
