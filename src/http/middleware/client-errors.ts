/**
 * Errors that Express, its router and its body parsers raise for a request they could not read: a malformed
 * percent-escape in the path (the router's URIError), a body that does not match its Content-Encoding (zlib), a body
 * over the limit, JSON that does not parse. They are the client's fault, so they answer 4xx, never 5xx.
 *
 * Their messages are never echoed or logged: the router's reads "Failed to decode param '<the raw segment>'", and on
 * the hook route that segment is the webhook secret.
 */
export interface ClientError {
  status: number;
  code: string;
  message: string;
}

interface WithStatus {
  status?: unknown;
  statusCode?: unknown;
  type?: unknown;
  code?: unknown;
}

/** body-parser and raw-body name their failures with a `type`; each gets a stable code and a message of ours. */
const byType: Record<string, { code: string; message: string }> = {
  'entity.too.large': { code: 'payload_too_large', message: 'request body is larger than the limit' },
  'entity.parse.failed': { code: 'invalid_json', message: 'the request body could not be parsed' },
  'encoding.unsupported': { code: 'unsupported_encoding', message: 'the request body has a Content-Encoding this route does not accept' },
  'charset.unsupported': { code: 'unsupported_charset', message: 'the request body has a charset this route does not accept' },
  'request.aborted': { code: 'request_aborted', message: 'the client stopped sending the request body' },
  'request.size.invalid': { code: 'bad_request', message: 'the request body is not as long as its Content-Length says' },
  'parameters.too.many': { code: 'bad_request', message: 'the form has too many fields' },
};

/** The 4xx answer for an error Express raised while reading the request, or null for anything else (a real 5xx). */
export function clientErrorOf(error: unknown): ClientError | null {
  if (typeof error !== 'object' || error === null) return null;
  const { status, statusCode, type, code } = error as WithStatus;
  const httpStatus = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : undefined;
  if (httpStatus === undefined || httpStatus < 400 || httpStatus >= 500) return null;
  if (error instanceof URIError) return { status: 400, code: 'malformed_path', message: 'the request path has a malformed percent-escape' };
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return { status: 400, code: 'undecodable_body', message: 'the request body does not match its Content-Encoding' };
  }
  const known = typeof type === 'string' ? byType[type] : undefined;
  return { status: httpStatus, code: known?.code ?? 'bad_request', message: known?.message ?? 'the request could not be read' };
}
