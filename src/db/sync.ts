import type { Repositories } from '../domain/ports';

/**
 * A repository port as the SQLite adapter implements it: the same methods, synchronous. better-sqlite3 answers every
 * statement synchronously, so the repositories stay plain functions and unit-of-work.ts alone turns them into the
 * domain's promises (and decides which transaction each call belongs to).
 */
export type Sync<Port> = {
  [Method in keyof Port]: Port[Method] extends (...args: infer Args) => Promise<infer Result> ? (...args: Args) => Result : Port[Method];
};

export type SyncRepositories = { [Name in keyof Repositories]: Sync<Repositories[Name]> };
