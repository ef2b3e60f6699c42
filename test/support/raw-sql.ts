import type { TestApp } from './test-app';

type Database = Pick<TestApp, 'engine' | 'composed' | 'query'>;

/**
 * A statement that returns no rows (DDL, an update beneath the ports), with `?` placeholders on both engines.
 * `TestApp.query` reads; better-sqlite3 refuses to read from a statement that returns no data, so writes come here.
 */
export async function execute(db: Database, text: string, params: unknown[] = []): Promise<void> {
  const sqlite = db.composed.database.sqlite;
  if (sqlite) {
    sqlite.sqlite.prepare(text).run(...params);
    return;
  }
  await db.query(text, params);
}

export interface InsertFault {
  /** The table whose inserts fail (`payment_facts`: halfway through applying an event). */
  table: string;
  /** The error's message, as the database reports it. */
  message: string;
  /** Only rows for which this SQL condition on NEW holds (`NEW.transaction_id = '9300002'`); without it, every row. */
  when?: string;
}

const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * A fault injected in the real database, beneath the ports: a trigger makes every insert into `table` (that matches
 * `when`) fail with `message`, as a full disk or a broken constraint would. Resolves to the function that removes it.
 */
export async function injectInsertFault(db: Database, fault: InsertFault): Promise<() => Promise<void>> {
  const name = `test_fault_${fault.table}`;
  if (db.engine === 'sqlite') {
    await execute(db, `CREATE TRIGGER ${name} BEFORE INSERT ON ${fault.table} ${fault.when ? `WHEN ${fault.when} ` : ''}BEGIN SELECT RAISE(ABORT, ${quote(fault.message)}); END`);
    return () => execute(db, `DROP TRIGGER ${name}`);
  }
  await execute(db, `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION ${quote(fault.message)}; END $$`);
  await execute(db, `CREATE TRIGGER ${name} BEFORE INSERT ON ${fault.table} FOR EACH ROW ${fault.when ? `WHEN (${fault.when}) ` : ''}EXECUTE FUNCTION ${name}()`);
  return async () => {
    await execute(db, `DROP TRIGGER ${name} ON ${fault.table}`);
    await execute(db, `DROP FUNCTION ${name}()`);
  };
}
