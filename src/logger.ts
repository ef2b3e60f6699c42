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
    destination,
  );
}

/** The webhook URL carries its secret in the path; logs keep the site key and drop the secret. */
export function maskSecrets(path: string): string {
  return path.replace(/^(\/hooks\/kartra\/[^/?#]+\/)[^/?#]+/, '$1[secret]');
}
