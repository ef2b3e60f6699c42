import { Client } from 'pg';
import { findPostgresBin, startLocalCluster } from './db/postgres/local-cluster';

/**
 * `npm run postgres:local`: a PostgreSQL cluster of your own in ./data/postgres (created on first run, kept after),
 * on loopback, in the foreground until Ctrl-C. It prints the DATABASE_URL to start the service with. For trying the
 * PostgreSQL adapter and for running several instances on one machine; production uses a managed server.
 */
async function main(): Promise<void> {
  const dataDir = process.env.PG_DATA_DIR ?? './data/postgres';
  const port = Number(process.env.PG_PORT ?? 5432);
  const cluster = await startLocalCluster({ bin: findPostgresBin(process.env), dataDir, port });
  const admin = new Client({ connectionString: cluster.adminUrl });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', ['kartra_access']);
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE kartra_access');
  await admin.end();
  console.log(`PostgreSQL ${cluster.dataDir} on port ${cluster.port} (its log: ${cluster.dataDir}/server.log). In another shell:\n\n  DATABASE_URL=${cluster.urlFor('kartra_access')} npm start\n\nCtrl-C stops it.`);
  const stop = () => void cluster.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  cluster.process.once('exit', (code) => {
    console.error(`postgres exited (${String(code)})`);
    process.exit(1);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
