import { get as httpGet, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ComposedApp } from '../../src/compose';
import { SESSION_COOKIE } from '../../src/http/pages/admin-session';

export interface ExportBenchOptions {
  siteId: number;
  what: 'events' | 'members';
  /** The page's filters, e.g. `outcome=applied&range=30d`; empty for the whole list. */
  query?: string;
  /** How often memory is sampled while the export runs. */
  sampleEveryMs?: number;
}

export interface MemorySample {
  atMs: number;
  rssMb: number;
  heapUsedMb: number;
}

export interface ExportBenchResult {
  path: string;
  totalMs: number;
  firstByteMs: number;
  bytes: number;
  /** CRLFs received less the header's: the data rows, give or take a quoted line break inside a cell. */
  rows: number;
  rowsPerSecond: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  /** Peak RSS over the RSS before the export: what the export cost in memory, which should not grow with the rows. */
  rssGrowthMb: number;
  heapUsedBeforeMb: number;
  heapUsedPeakMb: number;
  /** Every sample, for a plot of memory over the export. */
  samples: MemorySample[];
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/**
 * Times one full CSV export through the admin page route, over real HTTP on a loopback port, as a signed-in admin of
 * the site downloads it, and samples the process's RSS and heap while it runs. Client and server share the process,
 * so the figures are the export's whole cost; the client only counts bytes and line ends and keeps nothing.
 * `composed` must already hold the seeded log (seed-event-log.ts). Adds an admin of the site to it.
 */
export async function benchCsvExport(composed: ComposedApp, options: ExportBenchOptions): Promise<ExportBenchResult> {
  const password = 'export-bench-password-long-enough';
  // A new admin per run: a reused seeded log already holds the admins of earlier runs.
  const email = `export-bench-${Date.now()}@example.com`;
  await composed.services.admins.createAdmin({ email, password, timeZone: 'UTC', siteIds: [options.siteId] });
  const signedIn = await composed.services.admins.signIn(email, password);
  if (!signedIn) throw new Error('the export bench admin could not sign in');
  const path = `/admin/sites/${options.siteId}/${options.what}.csv${options.query ? `?${options.query}` : ''}`;

  const server = composed.app.listen(0, '127.0.0.1');
  await new Promise((done) => server.once('listening', done));
  const samples: MemorySample[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    // A collection first where the flag allows it, so "before" is the live heap rather than the seed's leftovers.
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage();
    const startedAt = process.hrtime.bigint();
    const elapsedMs = () => Number(process.hrtime.bigint() - startedAt) / 1e6;
    const sample = () => {
      const usage = process.memoryUsage();
      samples.push({ atMs: Math.round(elapsedMs()), rssMb: mb(usage.rss), heapUsedMb: mb(usage.heapUsed) });
    };
    sample();
    sampler = setInterval(sample, options.sampleEveryMs ?? 25);

    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      httpGet({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, headers: { cookie: `${SESSION_COOKIE}=${signedIn.sessionToken}` } }, resolve).on('error', reject),
    );
    if (res.statusCode !== 200) throw new Error(`GET ${path} answered ${res.statusCode}`);
    let firstByteMs = -1;
    let bytes = 0;
    let lineEnds = 0;
    let lastByte = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (firstByteMs < 0) firstByteMs = elapsedMs();
      bytes += chunk.length;
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) {
        if ((at > 0 ? chunk[at - 1] : lastByte) === 13) lineEnds++;
      }
      lastByte = chunk[chunk.length - 1] ?? lastByte;
    }
    const totalMs = elapsedMs();
    sample();
    const rows = Math.max(0, lineEnds - 1);
    const rssPeak = Math.max(...samples.map((entry) => entry.rssMb));
    return {
      path,
      totalMs: Math.round(totalMs),
      firstByteMs: Math.round(firstByteMs),
      bytes,
      rows,
      rowsPerSecond: Math.round(rows / (totalMs / 1000)),
      rssBeforeMb: mb(before.rss),
      rssPeakMb: rssPeak,
      rssGrowthMb: Math.round((rssPeak - mb(before.rss)) * 10) / 10,
      heapUsedBeforeMb: mb(before.heapUsed),
      heapUsedPeakMb: Math.max(...samples.map((entry) => entry.heapUsedMb)),
      samples,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    await new Promise((done) => server.close(done));
  }
}
