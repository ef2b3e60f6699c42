import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Request bodies are never logged, and paths pass through `maskSecrets` first; the redact
 * list is a second line of defence for anything that slips into a log object.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'kartra-access' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['authorization', 'headers.authorization', 'headers.cookie', 'secret', 'token', 'password', 'ipnSecret', 'rawBody', 'body'], censor: '[redacted]' },
    },
    // Synchronous writes to stdout, as Node's own console does on Linux. pino's default asynchronous stream flushes
    // at exit, and if whoever read the log has gone away (EPIPE) that flush loops forever: the service would never
    // stop on SIGTERM. A synchronous stream meets EPIPE on the write itself and simply stops logging.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** Site keys are short base64url words; anything longer or odder in that place may be a secret, so it is not logged. */
const SITE_KEY_SHAPE = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The webhook URL carries its secret in the path; logs keep the site key and drop the rest. Express matches routes
 * case-insensitively and ignores a trailing slash, and a client or proxy may double a slash or percent-encode a
 * letter: every path under /hooks, however spelled, is logged in one masked shape, so no spelling of a webhook URL
 * puts its secret in a log line.
 */
export function maskSecrets(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // Malformed escapes: judge the path as sent.
  }
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (segments[0]?.toLowerCase() !== 'hooks') return path;
  if (segments[1]?.toLowerCase() !== 'kartra') return '/hooks/[masked]';
  const siteKey = segments[2] ?? '';
  return `/hooks/kartra/${SITE_KEY_SHAPE.test(siteKey) ? siteKey : '[masked]'}/[secret]`;
}
