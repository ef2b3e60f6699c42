import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { composeApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { FixedClock } from './fixed-clock';

export interface TestApp {
  app: ReturnType<typeof composeApp>['app'];
  composed: ReturnType<typeof composeApp>;
  clock: FixedClock;
  databasePath: string;
  token: string;
  api: ApiClient;
  close(): void;
}

/** The real app, composed as in production, on a fresh SQLite file in a temp folder. */
export async function buildTestApp(env: Record<string, string> = {}, options: { logLines?: string[] } = {}): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'kartra-access-test-'));
  const databasePath = join(dir, 'test.db');
  const config = loadConfig({ DATABASE_PATH: databasePath, PUBLIC_URL: 'https://members.example.com', LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', ...env });
  const clock = new FixedClock();
  // With `logLines`, every line the service logs (at trace level) is kept there, for tests that search the log.
  const logger = options.logLines ? createLogger('trace', { write: (line: string) => void options.logLines?.push(line) }) : createLogger('silent');
  const composed = composeApp(config, { clock, logger });
  const { token } = await composed.services.tokens.create('test operator', null);
  return {
    app: composed.app,
    composed,
    clock,
    databasePath,
    token,
    api: new ApiClient(composed.app, token),
    close: () => {
      composed.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Thin supertest wrapper for the admin API with a bearer token. */
export class ApiClient {
  constructor(
    private readonly app: TestApp['app'],
    readonly token: string,
  ) {}
  get(path: string) {
    return request(this.app).get(`/api/v1${path}`).set('Authorization', `Bearer ${this.token}`);
  }
  post(path: string, body: object = {}) {
    return request(this.app).post(`/api/v1${path}`).set('Authorization', `Bearer ${this.token}`).send(body);
  }
  put(path: string, body: object) {
    return request(this.app).put(`/api/v1${path}`).set('Authorization', `Bearer ${this.token}`).send(body);
  }
  patch(path: string, body: object) {
    return request(this.app).patch(`/api/v1${path}`).set('Authorization', `Bearer ${this.token}`).send(body);
  }
  delete(path: string) {
    return request(this.app).delete(`/api/v1${path}`).set('Authorization', `Bearer ${this.token}`);
  }
  withToken(token: string) {
    return new ApiClient(this.app, token);
  }
}
