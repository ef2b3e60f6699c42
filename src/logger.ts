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
      // The same masking for every line, whatever wrote it: a hook path inside an error message or a stack is masked
      // as the request log masks it.
      formatters: { log: (object) => maskSecretsDeep(object) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((arg) => (typeof arg === 'string' ? maskSecretsInText(arg) : arg)) as Parameters<typeof method>);
        },
      },
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

/** Every spelling of a hook path inside free text (an error message, a stack), up to a quote or a space. */
const HOOK_PATH_IN_TEXT = /\/+hooks(?:\/[^\s'"`<>]*)?/gi;

/** Express's router quotes a path segment it could not decode, and on the hook route that segment is the secret. */
const ROUTER_PARAM_QUOTE = /(Failed to decode param )'[^']*'/g;

export function maskSecretsInText(text: string): string {
  return text.replace(HOOK_PATH_IN_TEXT, (path) => maskSecrets(path)).replace(ROUTER_PARAM_QUOTE, "$1'[masked]'");
}

function maskSecretsDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskSecretsInText(value);
  if (depth > 4 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => maskSecretsDeep(item, depth + 1));
  const masked: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) masked[key] = maskSecretsDeep(child, depth + 1);
  return masked;
}

/** An error as a log field: its name, message and stack, masked as every log line is (maskSecretsInText). */
export function describeError(error: unknown): { name?: string; message: string; stack?: string } | string {
  if (!(error instanceof Error)) return maskSecretsInText(String(error));
  return { name: error.name, message: maskSecretsInText(error.message), stack: error.stack ? maskSecretsInText(error.stack) : undefined };
}
