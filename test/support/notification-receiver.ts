import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedNotification {
  headers: IncomingHttpHeaders;
  body: string;
  /** The status the receiver answered with. */
  answered: number;
}

/**
 * A host site's receiver on loopback: records every POST and answers `failures` of them with 500 before answering
 * 200 (a receiver that is down for a while, then back).
 */
export class NotificationReceiver {
  readonly received: ReceivedNotification[] = [];
  private server: Server | null = null;
  constructor(
    private failuresLeft = 0,
    /** How long each answer takes: a slow receiver keeps deliveries in flight, where a crash test wants its kills. */
    private readonly answerDelayMs = 0,
  ) {}

  failNext(count: number): void {
    this.failuresLeft = count;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const answered = this.failuresLeft > 0 ? 500 : 200;
        if (this.failuresLeft > 0) this.failuresLeft -= 1;
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
        setTimeout(() => res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered === 200 ? 'ok' : 'down'), this.answerDelayMs);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/kartra-notifications`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Verifies a received notification with the `standardwebhooks` reference library; returns the parsed body or throws. */
export function verifyNotification(secret: string, notification: ReceivedNotification): { type: string; timestamp: string; data: Record<string, unknown> } {
  const headers = Object.fromEntries(Object.entries(notification.headers).map(([name, value]) => [name, String(value)]));
  return new Webhook(secret).verify(notification.body, headers) as { type: string; timestamp: string; data: Record<string, unknown> };
}
