import request from 'supertest';
import { composeApp, type ComposedApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { FixedClock } from './fixed-clock';
import { createEmptyDatabase, toPgPlaceholders, type Engine } from './storage';

export interface TestApp {
  app: ComposedApp['app'];
  composed: ComposedApp;
  clock: FixedClock;
  engine: Engine;
  /** The SQLite file (on SQLite runs; empty on PostgreSQL). */
  databasePath: string;
  /** DATABASE_PATH or DATABASE_URL of this app's database, to compose another instance on it. */
  databaseEnv: Record<string, string>;
  token: string;
  api: ApiClient;
  /** Raw SQL beneath the ports, for what a test checks in the tables; `?` placeholders on both engines. */
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  /** The first column of the first row, as a number (counts, ids). */
  scalar(text: string, params?: unknown[]): Promise<number>;
  close(): Promise<void>;
}

/** Seals the Kartra credentials of test apps on both engines (PostgreSQL has no generated key). */
export const TEST_SECRETS_KEY = 'test-only-secrets-key-0123456789abcdef';

/** The real app, composed as in production, on a fresh database of the engine under test (see storage.ts). */
export async function buildTestApp(env: Record<string, string> = {}, options: { logLines?: string[] } = {}): Promise<TestApp> {
  const database = await createEmptyDatabase();
  const config = loadConfig({ ...database.env, PUBLIC_URL: 'https://members.example.com', LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', SECRETS_KEY: TEST_SECRETS_KEY, ...env });
  const clock = new FixedClock();
  // With `logLines`, every line the service logs (at trace level) is kept there, for tests that search the log.
  const logger = options.logLines ? createLogger('trace', { write: (line: string) => void options.logLines?.push(line) }) : createLogger('silent');
  const composed = await composeApp(config, { clock, logger });
  const { token } = await composed.services.tokens.create('test operator', null);
  const query = rawQuery(composed);
  return {
    app: composed.app,
    composed,
    clock,
    engine: composed.database.engine,
    databasePath: database.path ?? '',
    databaseEnv: database.env,
    token,
    api: new ApiClient(composed.app, token),
    query,
    scalar: async (text, params) => {
      const [row] = await query(text, params);
      return Number(row ? Object.values(row)[0] : NaN);
    },
    close: async () => {
      await composed.close();
      await database.drop();
    },
  };
}

/** Raw SQL on a composed service's own database, whichever engine. */
export function rawQuery(composed: ComposedApp): TestApp['query'] {
  const { sqlite, postgres } = composed.database;
  return async <Row>(text: string, params: unknown[] = []): Promise<Row[]> => {
    if (sqlite) return sqlite.sqlite.prepare(text).all(...params) as Row[];
    if (postgres) return (await postgres.pool.query(toPgPlaceholders(text), params)).rows as Row[];
    throw new Error('no database');
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
