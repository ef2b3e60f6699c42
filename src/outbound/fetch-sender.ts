import type { NotificationSender } from '../domain/ports';

/**
 * POSTs with Node's fetch. Redirects are not followed (Standard Webhooks counts a 3xx as a failure, and following one
 * would send a signed body to an address nobody configured); the answer's body is not read, only its status.
 */
export function createFetchSender(): NotificationSender {
  return {
    async post(url, headers, body, timeoutMs) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'kartra-access-notifications', ...headers },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        await response.body?.cancel().catch(() => undefined);
        return { statusCode: response.status };
      } catch (error) {
        if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return { error: `no answer within ${timeoutMs} ms` };
        const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
        return { error: `${error instanceof Error ? error.message : String(error)}${cause}`.slice(0, 500) };
      }
    },
  };
}
