import { createLogger, describeError } from '../../src/logger';

const SECRET = 'q3V9xYzLmN0pR4sT6uW8aB2cD5eF7gH1jK3lM5nO7pQ';

function captured(write: (logger: ReturnType<typeof createLogger>) => void): string {
  const lines: string[] = [];
  write(createLogger('trace', { write: (line: string) => void lines.push(line) }));
  return lines.join('');
}

describe('masking applied to every log line', () => {
  it('masks a hook path and the router quote of an undecodable segment in messages and in any field', () => {
    const log = captured((logger) => {
      logger.error(`Failed to decode param '${SECRET}%'`);
      logger.warn({ detail: { nested: [`POST /hooks/kartra/site1/${SECRET} failed`] } }, 'with a path inside');
      logger.info({ why: `URIError: Failed to decode param '${SECRET}%zz'` }, 'in a field');
    });
    expect(log).not.toContain(SECRET);
    expect(log).toContain("Failed to decode param '[masked]'");
    expect(log).toContain('/hooks/kartra/site1/[secret]');
  });

  it('masks the same in an error described for the log, message and stack', () => {
    const error = new URIError(`Failed to decode param '${SECRET}%'`);
    const described = describeError(error) as { message: string; stack?: string };
    expect(described.message).toBe("Failed to decode param '[masked]'");
    expect(described.stack).not.toContain(SECRET);
  });
});
