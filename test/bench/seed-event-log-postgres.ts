import { Client, type Submittable } from 'pg';
import { openPostgres } from '../../src/db/postgres/database';
import { generateEventLog, SEED_COLUMNS, SEED_TABLES, type SeededLog, type SeedOptions, type SeedSink, type SeedTable, type SeedValue } from './seed-event-log';

/** What the COPY below uses of pg's connection (lib/connection.js; pg-copy-streams drives the same methods). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: { writableNeedDrain?: boolean; once(event: 'drain', listener: () => void): unknown };
}

/**
 * `COPY … FROM STDIN` on a pg client without another package: a custom query (pg's Submittable, the mechanism
 * pg-cursor and pg-query-stream use) that sends the statement, then the chunks as CopyData when the server asks for
 * them, waiting for the socket to drain between chunks. Resolves once the server is ready for the next query.
 */
function copyFrom(client: Client, statement: string, chunks: Buffer[]): Promise<void> {
  return new Promise((done, fail) => {
    let error: Error | undefined;
    const copy = {
      submit(connection: CopyConnection) {
        connection.query(statement);
      },
      handleCopyInResponse(connection: CopyConnection) {
        void (async () => {
          for (const chunk of chunks) {
            connection.sendCopyFromChunk(chunk);
            if (connection.stream.writableNeedDrain) await new Promise((drained) => connection.stream.once('drain', () => drained(undefined)));
          }
          connection.endCopyFrom();
        })().catch((cause: unknown) => connection.sendCopyFail(String(cause)));
      },
      handleError(cause: Error) {
        error = cause;
      },
      handleReadyForQuery() {
        if (error) fail(error);
        else done();
      },
      handleCommandComplete() {},
      handleRowDescription() {},
      handleDataRow() {},
      handleEmptyQuery() {},
      handlePortalSuspended() {},
      handleCopyData() {},
    };
    client.query(copy as unknown as Submittable);
  });
}

/** bytea in COPY's text format: printable ASCII without backslashes as it is (bytea's escape format), else hex. */
function byteaText(value: Buffer): string {
  for (const byte of value) if (byte < 0x20 || byte > 0x7e || byte === 0x5c) return `\\\\x${value.toString('hex')}`;
  return value.toString('latin1');
}

/** One value in COPY's text format: \N for NULL; backslash, tab, newline and carriage return escaped. */
function copyText(value: SeedValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') return String(value);
  if (Buffer.isBuffer(value)) return byteaText(value);
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (char) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[char] ?? char) : value;
}

/** A table's rows gathered as COPY text, in chunks of about a megabyte. */
class CopyBuffer {
  chunks: Buffer[] = [];
  rows = 0;
  private lines: string[] = [];
  private length = 0;

  add(values: SeedValue[]): void {
    const line = `${values.map(copyText).join('\t')}\n`;
    this.lines.push(line);
    this.length += line.length;
    this.rows++;
    if (this.length >= 1 << 20) this.seal();
  }

  seal(): void {
    if (this.lines.length === 0) return;
    this.chunks.push(Buffer.from(this.lines.join(''), 'utf8'));
    this.lines = [];
    this.length = 0;
  }

  take(): Buffer[] {
    this.seal();
    const chunks = this.chunks;
    this.chunks = [];
    this.rows = 0;
    return chunks;
  }
}

export interface PostgresSeedTimes {
  /** Generating the rows and COPYing them in, batch by batch (one transaction each). */
  copySeconds: number;
  /** VACUUM (ANALYZE) of the seeded tables, then a CHECKPOINT. */
  vacuumAnalyzeSeconds: number;
}

/**
 * Seeds the same synthetic log as seedEventLog (the same generator, so the same rows under the same ids) into a
 * PostgreSQL database, migrated first by the real openPostgres: each batch of 10,000 events is one transaction of
 * one COPY per table, with synchronous_commit off for this session (a fixture, not a durability test; the server's
 * fsync stays as it is). The identity sequences are then moved past the seeded ids, and the tables vacuumed and
 * analysed: a log that grew over a year has been through autovacuum many times (statistics, visibility map, hint
 * bits), which a bulk load has not; the CHECKPOINT writes the load out before anything is timed.
 */
export async function seedEventLogPostgres(url: string, options: SeedOptions, log: (line: string) => void = () => undefined): Promise<SeededLog & { postgres: PostgresSeedTimes }> {
  const startedAt = Date.now();
  const migrated = await openPostgres(url, { poolSize: 1, statementTimeoutMs: 0 });
  await migrated.close();
  const client = new Client({ connectionString: url });
  // A connection the server drops (shutdown, restart) fails the pending query instead of crashing the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SET synchronous_commit = off');
    const buffers = new Map(SEED_TABLES.map((table) => [table, new CopyBuffer()] as const));
    const sink: SeedSink = { row: (table: SeedTable, values: SeedValue[]) => buffers.get(table)?.add(values) };
    const generator = generateEventLog(options, sink, 10_000);
    let batches = 0;
    for (;;) {
      const step = generator.next();
      await client.query('BEGIN');
      for (const table of SEED_TABLES) {
        const buffer = buffers.get(table);
        if (!buffer || buffer.rows === 0) continue;
        await copyFrom(client, `COPY ${table} (${SEED_COLUMNS[table].join(', ')}) FROM STDIN`, buffer.take());
      }
      await client.query('COMMIT');
      if (++batches % 20 === 0) log(`    ${(batches - 1) * 10_000} events copied, ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
      if (step.done) {
        const copySeconds = (Date.now() - startedAt) / 1000;
        // Explicit ids leave the identity sequences at 1: the service's own inserts must start after the seed.
        for (const table of ['sites', 'access_levels', 'members', 'webhook_events', 'payment_facts', 'grants', 'grant_history']) {
          await client.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM ${table}), false)`);
        }
        const vacuumStartedAt = Date.now();
        log(`    copied in ${copySeconds.toFixed(0)} s; VACUUM (ANALYZE)`);
        for (const table of SEED_TABLES) await client.query(`VACUUM (ANALYZE) ${table}`);
        // CHECKPOINT needs a superuser or pg_checkpoint (PostgreSQL 15); without either, the server's own checkpoints follow.
        await client.query('CHECKPOINT').catch(() => undefined);
        const vacuumAnalyzeSeconds = (Date.now() - vacuumStartedAt) / 1000;
        return { ...step.value, seconds: (Date.now() - startedAt) / 1000, postgres: { copySeconds, vacuumAnalyzeSeconds } };
      }
    }
  } finally {
    await client.end();
  }
}
