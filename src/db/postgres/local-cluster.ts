import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

/**
 * A throwaway PostgreSQL cluster on loopback, for tests and for trying the service on PostgreSQL without a daemon:
 * `initdb` into a folder, then `postgres` on a free port, as the current user (or as `postgres` when we are root,
 * because the server refuses to run as root). Debian's `postgresql` package provides the binaries.
 */

/** The folder with initdb, pg_ctl and postgres: `PG_BIN`, else the newest of Debian's, else the PATH. */
export function findPostgresBin(env: { PG_BIN?: string; PATH?: string }): string | null {
  const candidates: string[] = [];
  if (env.PG_BIN) candidates.push(env.PG_BIN);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(debian, version, 'bin')));
  }
  for (const dir of (env.PATH ?? '').split(':')) if (dir) candidates.push(dir);
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) ?? null;
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no port'))));
    });
  });
}

export interface LocalCluster {
  /** A superuser URL of the cluster's `postgres` database. */
  adminUrl: string;
  /** The same server, another database. */
  urlFor(database: string): string;
  port: number;
  dataDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL binary as a user the server accepts. */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

/**
 * Creates (or reuses, when it holds a cluster already) `dataDir` and starts the server on `port` (a free one when 0).
 * fsync stays on unless `fast`: tests trade durability of the throwaway cluster for speed, an operator's trial does not.
 */
export async function startLocalCluster(options: { bin: string | null; dataDir: string; port?: number; fast?: boolean }): Promise<LocalCluster> {
  const { bin } = options;
  if (!bin) throw new Error('PostgreSQL is not installed: apt-get install postgresql (or set PG_BIN to the folder with initdb and postgres)');
  const dataDir = resolve(options.dataDir);
  const port = options.port || (await freePort());
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true });
    if (isRoot()) {
      chownServerUser(dataDir);
      letServerUserThrough(dirname(dataDir));
    }
    const [command, args] = asServerUser(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8']);
    try {
      execFileSync(command, args, { stdio: 'pipe' });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`initdb failed: ${stderr || String(error)}`, { cause: error });
    }
  }
  // Errors are logged without their statement: a statement's text can hold a buyer's email.
  const settings = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dataDir}`, '-c', 'max_connections=300', '-c', 'log_min_error_statement=panic'];
  if (options.fast) settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const [command, args] = asServerUser(join(bin, 'postgres'), settings);
  // The server's log goes to a file, never to a pipe of ours: a pipe nobody drains (the test runner waits for jest in
  // spawnSync) fills up, and then every backend that logs blocks in write() for good, holding its locks.
  const logFile = join(dataDir, 'server.log');
  const logFd = openSync(logFile, 'a');
  if (isRoot()) chownServerUser(logFile);
  const server = spawn(command, args, { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const logTail = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '');
  await waitUntilReady(join(bin, 'pg_isready'), port, server, logTail);
  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    port,
    dataDir,
    process: server,
    stop: () =>
      new Promise<void>((done) => {
        if (server.exitCode !== null || server.signalCode !== null) return done();
        const force = setTimeout(() => signalPostmaster(dataDir, server, 'SIGKILL'), 30_000);
        server.once('exit', () => {
          clearTimeout(force);
          done();
        });
        // SIGINT: PostgreSQL's fast shutdown (rolls back open transactions, checkpoints, exits).
        signalPostmaster(dataDir, server, 'SIGINT');
      }),
  };
}

/**
 * Signals the postmaster itself (postmaster.pid's first line). As root the server runs under runuser, which does not
 * pass signals on: signalling the child we spawned would wait for ever. runuser exits once the server has.
 */
function signalPostmaster(dataDir: string, server: ChildProcess, signal: NodeJS.Signals): void {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) {
      process.kill(pid, signal);
      return;
    }
  } catch {
    // No pid file (not started, or already gone): signal what we spawned.
  }
  server.kill(signal);
}

function chownServerUser(dir: string): void {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
}

/** mkdtemp folders are 0700: the server user needs to pass through (not read) the folders above its data folder. */
function letServerUserThrough(dir: string): void {
  for (let current = dir; current !== dirname(current); current = dirname(current)) {
    const mode = statSync(current).mode & 0o777;
    if ((mode & 0o001) === 0) chmodSync(current, mode | 0o001);
  }
}

async function waitUntilReady(pgIsReady: string, port: number, server: ChildProcess, logTail: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`postgres exited (${server.exitCode}): ${logTail()}`);
    try {
      execFileSync(pgIsReady, ['-h', '127.0.0.1', '-p', String(port), '-q'], { stdio: 'ignore' });
      return;
    } catch {
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  server.kill('SIGKILL');
  throw new Error(`postgres did not become ready on port ${port}: ${logTail()}`);
}

/** Removes a cluster's folder (after stop()). */
export function removeCluster(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}
