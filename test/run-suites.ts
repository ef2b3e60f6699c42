/**
 * `npm test`'s runner: the whole jest suite once on SQLite, then once on PostgreSQL. For the second pass it uses
 * TEST_DATABASE_URL when set (a superuser URL), else starts a throwaway cluster from Debian's `postgresql` binaries
 * (initdb into a temp folder, a free port, no daemon) and removes it after. Without PostgreSQL it says so and stops
 * after the SQLite pass. TEST_ENGINES=sqlite (or postgres) runs one pass; arguments go to jest.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPostgresBin, removeCluster, startLocalCluster, type LocalCluster } from '../src/db/postgres/local-cluster';

type Engine = 'sqlite' | 'postgres';

function runJest(engine: Engine, env: Record<string, string>, args: string[]): boolean {
  console.log(`\n=== jest on ${engine} ===\n`);
  const result = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), ...args], {
    stdio: 'inherit',
    env: { ...process.env, TEST_ENGINE: engine, ...env },
  });
  return result.status === 0;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const wanted = (process.env.TEST_ENGINES ?? 'sqlite,postgres').split(',').map((name) => name.trim());
  const results: string[] = [];
  let ok = true;

  if (wanted.includes('sqlite')) {
    const passed = runJest('sqlite', {}, args);
    ok &&= passed;
    results.push(`SQLite: ${passed ? 'passed' : 'FAILED'}`);
  }

  if (wanted.includes('postgres')) {
    let cluster: LocalCluster | null = null;
    let url = process.env.TEST_DATABASE_URL;
    const bin = findPostgresBin(process.env);
    if (!url && bin) {
      const dir = mkdtempSync(join(tmpdir(), 'kartra-access-pg-'));
      // fsync off: a throwaway cluster for tests, not a durability claim (the crash tests kill the service, not the server).
      cluster = await startLocalCluster({ bin, dataDir: join(dir, 'data'), fast: true });
      url = cluster.adminUrl;
      console.log(`\nthrowaway PostgreSQL cluster on port ${cluster.port} (${cluster.dataDir})`);
    }
    if (url) {
      try {
        const passed = runJest('postgres', { TEST_DATABASE_URL: url }, args);
        ok &&= passed;
        results.push(`PostgreSQL: ${passed ? 'passed' : 'FAILED'}`);
      } finally {
        if (cluster) {
          await cluster.stop();
          removeCluster(join(cluster.dataDir, '..'));
        }
      }
    } else {
      results.push('PostgreSQL: NOT RUN — no PostgreSQL found (apt-get install postgresql, or set TEST_DATABASE_URL); this run tested SQLite only');
    }
  }

  console.log(`\n${results.join('\n')}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
