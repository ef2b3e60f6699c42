import { sql, type SQL } from 'drizzle-orm';

/**
 * Hot-path queries are prepared once (drizzle `.prepare()` with `sql.placeholder`): building a query and having
 * SQLite compile it cost more than running it, and the webhook intake runs a dozen per event.
 */

/** `{ column: value }` with the undefined entries left out: drizzle's `set()` skips those, so we do too. */
export function definedEntries<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** A `set()` source whose every value is the placeholder of the same name. */
export function placeholderSet(columns: string[]): Record<string, SQL> {
  return Object.fromEntries(columns.map((column) => [column, sql`${sql.placeholder(column)}`]));
}

/**
 * One prepared statement per set of columns an UPDATE actually changes: updates leave undefined fields alone, so
 * the statement depends on which fields a caller passed, and the few shapes the code uses are each compiled once.
 */
export function preparedByColumns<Statement>(build: (columns: string[]) => Statement): (columns: string[]) => Statement {
  const statements = new Map<string, Statement>();
  return (columns) => {
    const key = columns.join(',');
    let statement = statements.get(key);
    if (!statement) {
      statement = build(columns);
      statements.set(key, statement);
    }
    return statement;
  };
}
