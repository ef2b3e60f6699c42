import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { composeServices } from './compose';
import { ADMIN_USAGE, runAdminCommand } from './cli-admin';
import { loadConfig } from './config';
import { openStorage } from './db/storage';
import { createLogger } from './logger';
import { countOf } from './domain/wording';

const USAGE = `usage: npm run cli -- <command>

  migrate                              create the database (SQLite file) if needed and apply migrations
  token create --name <name> [--site <siteId>]
                                       print a new admin API token (shown once; only its hash is stored);
                                       without --site it sees every site
  token list                           list tokens (never the tokens themselves)
  token revoke <id>                    revoke a token
  sweep                                record grants whose access period has ended
  prune                                empty raw bodies older than each site's retention (rows and history stay)
  backup <file>                        copy the database to <file> while the service keeps running (SQLite
                                       online backup); restore: stop the service, copy the file in place, start
${ADMIN_USAGE}`;

/** sqlite3_backup_step's page count meaning "everything left" (better-sqlite3 caps the value it passes at 2^31 - 1). */
const ALL_REMAINING_PAGES = 0x7fffffff;

/** A second entry point beside main.ts: it reads the same environment and composes the same services. */
async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const config = loadConfig(env);
  if (argv[0] === 'admin') {
    return runAdmin(argv.slice(1), config);
  }
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, site: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, subcommand, argument] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }

  if (command === 'migrate') {
    const storage = await openStorage(config);
    await storage.close();
    console.log(`${storage.engine} database ${storage.location} is migrated`);
    return 0;
  }

  if (command === 'backup') {
    if (!subcommand) {
      console.error('backup needs a destination file: npm run cli -- backup <file>');
      return 2;
    }
    if (existsSync(subcommand)) {
      console.error(`${subcommand} exists; choose a new file so no earlier backup is overwritten`);
      return 2;
    }
    // SQLite's online backup API. It copies in steps, and a commit by another connection (the running service)
    // between two steps restarts the copy from the first page: with better-sqlite3's default of 100 pages a step, a
    // large database under steady intake never finishes. So after the first step every remaining page is copied in
    // one: that step reads one consistent snapshot, and in WAL mode a reader never blocks the service's writes.
    const storage = await openStorage(config, { migrate: false });
    try {
      if (!storage.sqlite) {
        console.error(`backup copies a SQLite file; on PostgreSQL use the server's own tools: pg_dump --format=custom --file=${subcommand} "$DATABASE_URL"`);
        return 2;
      }
      const { totalPages } = await storage.sqlite.sqlite.backup(subcommand, { progress: () => ALL_REMAINING_PAGES });
      console.log(`backed up ${config.databasePath} to ${subcommand} (${totalPages} pages)`);
      return 0;
    } finally {
      await storage.close();
    }
  }

  const { services, database, retention } = await composeServices(config, { logger: createLogger('silent') });
  try {
    if (command === 'token' && subcommand === 'create') {
      if (!values.name?.trim()) {
        console.error('token create needs --name <name>');
        return 2;
      }
      const siteId = values.site === undefined ? null : Number(values.site);
      if (siteId !== null && !Number.isInteger(siteId)) {
        console.error('--site takes a site id (a number)');
        return 2;
      }
      const { token, record } = await services.tokens.create(values.name, siteId);
      console.log(`token ${record.id} "${record.name}" created${siteId === null ? ' (all sites)' : ` (site ${siteId})`}. Copy it now; it is not shown again:`);
      console.log(token);
      return 0;
    }
    if (command === 'token' && subcommand === 'list') {
      const tokens = await services.tokens.list();
      if (tokens.length === 0) console.log('no tokens yet: npm run cli -- token create --name <name>');
      for (const token of tokens) {
        const state = token.revokedAt ? `revoked ${token.revokedAt.toISOString()}` : 'active';
        const scope = token.siteId === null ? 'all sites' : `site ${token.siteId}`;
        console.log(`${token.id}\t${token.name}\t${token.tokenPrefix}…\t${scope}\t${state}\tlast used ${token.lastUsedAt?.toISOString() ?? 'never'}`);
      }
      return 0;
    }
    if (command === 'token' && subcommand === 'revoke') {
      const tokenId = Number(argument);
      if (!Number.isInteger(tokenId)) {
        console.error('token revoke needs a token id');
        return 2;
      }
      await services.tokens.revoke(tokenId);
      console.log(`token ${tokenId} revoked`);
      return 0;
    }
    if (command === 'prune') {
      const { sitesChecked, bodiesPruned } = await retention.pruneRawBodies();
      console.log(`${bodiesPruned} raw bod${bodiesPruned === 1 ? 'y' : 'ies'} pruned across ${countOf(sitesChecked, 'site')}`);
      return 0;
    }
    if (command === 'sweep') {
      console.log(`${countOf(await services.access.sweepExpired(10_000), 'grant')} recorded as ended`);
      return 0;
    }
    console.error(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
    return 2;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  } finally {
    await database.close();
  }
}

/** Admin commands hash passwords with async scrypt. */
async function runAdmin(argv: string[], config: ReturnType<typeof loadConfig>): Promise<number> {
  const { services, database } = await composeServices(config, { logger: createLogger('silent') });
  try {
    return await runAdminCommand(argv, services, Boolean(process.stdin.isTTY));
  } finally {
    await database.close();
  }
}

run(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
