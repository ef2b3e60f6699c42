import { Router, type RequestHandler } from 'express';
import getRawBody from 'raw-body';
import type { IntakeService } from '../domain/webhook-events/intake-service';
import { HOOK_NOT_FOUND } from './middleware/error-handler';

/** Headers worth keeping with a stored event: they help answer "who sent this, and how?" without any secrets. */
const KEPT_HEADERS = ['content-type', 'content-length', 'user-agent', 'x-forwarded-for', 'x-real-ip', 'content-encoding', 'transfer-encoding'];

/**
 * The bytes exactly as they arrived, whatever Content-Encoding or charset the headers claim. express.raw would
 * inflate gzip first and answer 400 or 415 for a body that does not match its header, and the delivery would be lost;
 * here the body is stored first and decoded afterwards, so an undecodable one becomes an `invalid` event with the
 * reason. The cap counts the bytes on the wire; the decoded content has its own cap in the intake.
 */
function bytesAsReceived(limitBytes: number): RequestHandler {
  return async function readBytesAsReceived(req, _res, next) {
    const declared = req.headers['content-length'];
    // Node's HTTP parser frames the body by Content-Length (or chunked encoding) and refuses messages with both.
    req.body = await getRawBody(req, { limit: limitBytes, length: declared && /^\d+$/.test(declared) ? declared : null });
    next();
  };
}

export function createWebhookRouter({ intake, bodyLimitBytes }: { intake: IntakeService; bodyLimitBytes: number }): Router {
  const router = Router();
  // The raw body on this route only: Kartra documents no Content-Type, and a malformed body must still be stored.
  const rawBody = bytesAsReceived(bodyLimitBytes);

  router.post('/hooks/kartra/:siteKey/:secret', rawBody, async (req, res) => {
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value.slice(0, 500);
    }
    // Settles after the commit of the group this delivery joined: Kartra is answered only once the event is durable.
    const result = await intake.receive({
      siteKey: String(req.params.siteKey),
      secret: String(req.params.secret),
      rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      sourceIp: req.ip ?? null,
      headers,
    });
    switch (result.outcome) {
      case 'not_found':
        res.status(404).json(HOOK_NOT_FOUND);
        return;
      case 'invalid':
        res.status(400).json({ error: { code: 'invalid_event', message: result.error ?? result.summary, details: { eventId: result.eventId } } });
        return;
      case 'rejected':
        res.status(403).json({ error: { code: 'rejected', message: result.summary, details: { eventId: result.eventId } } });
        return;
      default:
        // Stored: Kartra cannot fix anything by retrying, so every stored outcome (failed included) is a 2xx.
        res.status(200).json({ received: true, eventId: result.eventId, outcome: result.outcome });
    }
  });
  return router;
}
