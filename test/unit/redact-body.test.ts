import { redactKartraBody } from '../../src/domain/kartra/redact-body';
import { ipnFixtureBody, ipnFixtureFields } from '../support/kartra-fixtures';

const SECRET = 'wc-ipn-3f9a71c2';

function multipart(fields: [string, string][], boundary: string, extraHeader = ''): string {
  return `${fields.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n${extraHeader}\r\n${value}\r\n`).join('')}--${boundary}--\r\n`;
}

describe('redactKartraBody', () => {
  it('masks secret_key in a urlencoded IPN body and keeps every other field', () => {
    const body = ipnFixtureBody('01-sale.one-time.dana.txt');
    expect(body).toContain(SECRET);
    const redacted = redactKartraBody(body);
    expect(redacted).not.toContain(SECRET);
    expect(redacted).toContain('secret_key=[redacted]');
    expect(redacted.replace('secret_key=[redacted]', `secret_key=${SECRET}`)).toBe(body);
  });

  it('masks secret_key as the first field of a form', () => {
    expect(redactKartraBody(`secret_key=${SECRET}&transaction_type=sale`)).toBe('secret_key=[redacted]&transaction_type=sale');
  });

  it('masks every copy of a repeated secret_key', () => {
    expect(redactKartraBody(`secret_key=a1&transaction_type=sale&secret_key=b2`)).toBe('secret_key=[redacted]&transaction_type=sale&secret_key=[redacted]');
  });

  it('does not touch a field that merely ends in secret_key', () => {
    expect(redactKartraBody('vendor_secret_key_hint=abc&secret_key=x')).toBe('vendor_secret_key_hint=abc&secret_key=[redacted]');
  });

  it('masks secret_key in JSON bodies, compact or pretty, string or number, with escapes', () => {
    expect(redactKartraBody(`{"action":"buy_product","secret_key":"${SECRET}"}`)).toBe('{"action":"buy_product","secret_key":"[redacted]"}');
    expect(redactKartraBody(`{\n  "secret_key" : "a\\"b${SECRET}",\n  "x": 1\n}`)).toBe('{\n  "secret_key" : "[redacted]",\n  "x": 1\n}');
    expect(redactKartraBody('{"secret_key": 123456789, "x": 1}')).toBe('{"secret_key": "[redacted]", "x": 1}');
  });

  it('masks secret_key in a multipart body and keeps the other parts', () => {
    const body = multipart(ipnFixtureFields('01-sale.one-time.dana.txt'), 'KartraBoundary42');
    const redacted = redactKartraBody(body);
    expect(redacted).not.toContain(SECRET);
    expect(redacted).toContain('name="secret_key"\r\n\r\n[redacted]\r\n');
    expect(redacted).toContain('name="lead_email"\r\n\r\ndana.whitfield@example.com\r\n');
  });

  it('masks secret_key in a multipart part that carries its own Content-Type header', () => {
    const redacted = redactKartraBody(multipart([['transaction_type', 'sale'], ['secret_key', SECRET]], 'b', 'Content-Type: text/plain; charset=utf-8\r\n'));
    expect(redacted).not.toContain(SECRET);
    expect(redacted).toContain('transaction_type"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsale');
  });

  it('masks a multi-line multipart secret up to the next delimiter', () => {
    const redacted = redactKartraBody(multipart([['secret_key', `line1\r\n${SECRET}`], ['transaction_type', 'sale']], 'b'));
    expect(redacted).toBe('--b\r\nContent-Disposition: form-data; name="secret_key"\r\n\r\n[redacted]\r\n--b\r\nContent-Disposition: form-data; name="transaction_type"\r\n\r\nsale\r\n--b--\r\n');
  });

  it('leaves a body without a secret unchanged', () => {
    const body = '{"lead":{"id":"1"},"action":"assign_tag"}';
    expect(redactKartraBody(body)).toBe(body);
  });
});
