import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenDatabase } from '../../src/db/database';
import { buildMapping, buildSite, type SiteWithHook } from '../support/factories';
import { outboundFixture, withTransaction } from '../support/kartra-fixtures';
import { injectInsertFault } from '../support/raw-sql';
import { describeSqliteOnly } from '../support/storage';
import { buildTestApp, type TestApp } from '../support/test-app';

/** Settles every promise and reports each as its value or its error's message, in order. */
async function outcomes<T>(promises: Promise<T>[]): Promise<({ value: T } | { error: string })[]> {
  const settled = await Promise.allSettled(promises);
  return settled.map((result) => (result.status === 'fulfilled' ? { value: result.value } : { error: (result.reason as Error).message }));
}

// SQLite only: the serialised runner and its group commit are how the SQLite adapter keeps one connection's
// transactions apart; PostgreSQL gives each unit its own pooled connection and transaction.
describeSqliteOnly('the SQLite unit of work on a real file: serialised units, one commit per group', () => {
  let dir: string;
  let database: OpenDatabase;
  // A second connection to the same file, as another process would have: it sees only what is committed.
  let observer: Database.Database;
  let insertNote: Database.Statement<[string]>;
  let committedLabels: () => string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kartra-access-group-commit-'));
    const file = join(dir, 'group.db');
    database = openDatabase(file);
    database.sqlite.exec(`
      create table notes (id integer primary key, label text not null);
      create table parents (id integer primary key);
      create table children (id integer primary key, parent_id integer not null references parents(id) deferrable initially deferred);
    `);
    insertNote = database.sqlite.prepare('insert into notes (label) values (?)');
    observer = new Database(file, { readonly: true });
    const labels = observer.prepare('select label from notes order by id').pluck();
    committedLabels = () => labels.all() as string[];
  });

  afterEach(() => {
    observer.close();
    database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports its durability setting: WAL with a sync at every commit', () => {
    expect(database.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    // 2 = FULL: SQLite syncs the WAL before COMMIT returns.
    expect(database.sqlite.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('commits the units queued in one turn together, keeping the transaction open across their awaits, and answers each with its own result', async () => {
    const seenByObserverDuringGroup: number[] = [];
    const units = Array.from({ length: 20 }, (_, index) =>
      database.transaction(async () => {
        insertNote.run(`note ${index}`);
        // Other promises run here; an async callback in better-sqlite3's transaction() would have committed already.
        await Promise.resolve();
        seenByObserverDuringGroup.push(committedLabels().length);
        return { index, inTransaction: database.sqlite.inTransaction };
      }),
    );
    const results = await Promise.all(units);

    expect(results).toEqual(Array.from({ length: 20 }, (_, index) => ({ index, inTransaction: true })));
    // Had any unit committed on its own, the other connection would have seen its row while the rest ran.
    expect(seenByObserverDuringGroup).toEqual(Array.from({ length: 20 }, () => 0));
    expect(committedLabels()).toEqual(Array.from({ length: 20 }, (_, index) => `note ${index}`));
  });

  it('settles each unit only when its row is visible to another connection', async () => {
    const visibleWhenSettled: boolean[] = [];
    const units = Array.from({ length: 10 }, (_, index) =>
      database
        .transaction(async () => insertNote.run(`note ${index}`))
        .then(() => {
          visibleWhenSettled.push(committedLabels().includes(`note ${index}`));
        }),
    );
    // Checked before anything is awaited: queuing runs no work and commits nothing.
    expect(committedLabels()).toEqual([]);
    await Promise.all(units);
    expect(visibleWhenSettled).toEqual(Array.from({ length: 10 }, () => true));
  });

  it('rejects only the unit that throws, even after an await, undoes only its writes, and commits the rest of its group', async () => {
    const units = Array.from({ length: 6 }, (_, index) =>
      database.transaction(async () => {
        insertNote.run(`note ${index}`);
        await Promise.resolve();
        if (index === 2) throw new Error('unit 2 broke after writing');
        return index;
      }),
    );
    expect(await outcomes(units)).toEqual([{ value: 0 }, { value: 1 }, { error: 'unit 2 broke after writing' }, { value: 3 }, { value: 4 }, { value: 5 }]);
    expect(committedLabels()).toEqual(['note 0', 'note 1', 'note 3', 'note 4', 'note 5']);
  });

  it('rolls back a savepoint that throws and keeps the rest of its unit', async () => {
    const result = await database.transaction(async (tx) => {
      insertNote.run('kept');
      const inner = await tx.savepoint(async () => {
        insertNote.run('undone');
        throw new Error('inner broke');
      }).catch((error: Error) => error.message);
      insertNote.run('after');
      return inner;
    });
    expect(result).toBe('inner broke');
    expect(committedLabels()).toEqual(['kept', 'after']);
  });

  it('makes a call outside any unit wait until the open group has committed, so it never joins its transaction', async () => {
    const order: string[] = [];
    const unit = database.transaction(async (tx) => {
      await tx.sites.create({ key: 'unit-site', name: 'Unit', createdAt: new Date(0) });
      // Let every other promise run: the outside read below is asked for while this transaction is open.
      await new Promise((done) => setImmediate(done));
      order.push('unit done');
    });
    await new Promise((done) => setImmediate(done));
    const outside = database.repos.sites.findByKey('unit-site').then((site) => {
      order.push(`outside read: ${site ? 'found' : 'missing'}, committed ${String(!database.sqlite.inTransaction)}`);
    });
    await Promise.all([unit, outside]);
    expect(order).toEqual(['unit done', 'outside read: found, committed true']);
  });

  it('refuses a transaction handle used after its unit ended', async () => {
    let kept: Parameters<Parameters<OpenDatabase['transaction']>[0]>[0] | undefined;
    await database.transaction(async (tx) => {
      kept = tx;
    });
    await expect(kept?.sites.findByKey('x')).rejects.toThrow(/after its unit of work ended/);
  });

  it('rejects every unit of a group whose COMMIT fails, and keeps none of their writes', async () => {
    // A deferred foreign key is checked at COMMIT: the unit itself succeeds, the commit of its group does not.
    const units = [
      database.transaction(async () => insertNote.run('first').changes),
      database.transaction(async () => database.sqlite.prepare('insert into children (parent_id) values (999)').run().changes),
      database.transaction(async () => insertNote.run('third').changes),
    ];
    const settled = await outcomes(units);
    expect(settled).toEqual([{ error: 'FOREIGN KEY constraint failed' }, { error: 'FOREIGN KEY constraint failed' }, { error: 'FOREIGN KEY constraint failed' }]);
    expect(committedLabels()).toEqual([]);
    expect(database.sqlite.inTransaction).toBe(false);

    // The next group starts clean.
    await database.transaction(async () => insertNote.run('next group'));
    expect(committedLabels()).toEqual(['next group']);
  });

  it('runs work queued by a unit in the next group, and settles both', async () => {
    let inner: Promise<number> | undefined;
    const outer = database.transaction(async () => {
      insertNote.run('outer');
      inner = database.transaction(async () => insertNote.run('inner').changes);
      return 'outer done';
    });
    await expect(outer).resolves.toBe('outer done');
    expect(committedLabels()).toEqual(['outer']);
    await expect(inner).resolves.toBe(1);
    expect(committedLabels()).toEqual(['outer', 'inner']);
  });

  it('rejects the units of a group when the database was closed before it flushed', async () => {
    const unit = database.transaction(async () => insertNote.run('too late'));
    database.close();
    await expect(unit).rejects.toThrow(/not open/);
  });
});

// On both engines: deliveries queued in one turn share one group commit on SQLite, and run as concurrent transactions
// on PostgreSQL; either way the one that fails must leave nothing behind and take none of the others with it.
describe('webhook deliveries sharing one group commit', () => {
  let t: TestApp;
  let site: SiteWithHook;
  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await buildMapping(t, site, '558475', ['Foundations']);
  });
  afterEach(() => t.close());

  it('stores a delivery whose applying throws as failed, with no effects, while the others of its group apply', async () => {
    // A fault in the real database: a payment fact for order 9300002 cannot be inserted, halfway through applying.
    await injectInsertFault(t, { table: 'payment_facts', when: "NEW.transaction_id = '9300002'", message: 'disk on fire' });
    const [, , , siteKey, secret] = new URL(site.hookUrl).pathname.split('/');
    const purchase = outboundFixture('02-buy_product.one-time.dana.json');
    // Queued in one turn of the event loop, so they share one transaction.
    const deliveries = Array.from({ length: 5 }, (_, index) => {
      const lead = { id: String(51000 + index), email: `buyer${index}@example.com` };
      const body = withTransaction({ ...purchase, lead: { ...(purchase.lead as object), ...lead } }, { transaction_id: String(9300000 + index), lead_id: lead.id, lead_email: lead.email });
      return t.composed.services.intake.receive({
        siteKey: siteKey ?? '',
        secret: secret ?? '',
        rawBody: Buffer.from(JSON.stringify(body)),
        sourceIp: '203.0.113.9',
        headers: { 'content-type': 'application/json' },
      });
    });
    const results = await Promise.all(deliveries);
    expect(results.map((result) => result.outcome)).toEqual(['applied', 'applied', 'failed', 'applied', 'applied']);

    // By order number: concurrent transactions on PostgreSQL take their ids in whatever order they reach the insert.
    const rows = await t.query('select transaction_id, status, error from webhook_events order by transaction_id');
    expect(rows).toEqual([
      { transaction_id: '9300000', status: 'applied', error: null },
      { transaction_id: '9300001', status: 'applied', error: null },
      // Under jest the native error's class can come from another realm, so the stored text may carry its name.
      { transaction_id: '9300002', status: 'failed', error: expect.stringMatching(/disk on fire$/) },
      { transaction_id: '9300003', status: 'applied', error: null },
      { transaction_id: '9300004', status: 'applied', error: null },
    ]);
    // Nothing of the failed one was half-applied: no member, fact, grant or fingerprint claim for it.
    expect((await t.query<{ transaction_id: string }>('select transaction_id from payment_facts order by transaction_id')).map((row) => row.transaction_id)).toEqual(['9300000', '9300001', '9300003', '9300004']);
    expect(await t.scalar("select count(*) from members where email = 'buyer2@example.com'")).toBe(0);
    expect(await t.scalar('select count(*) from grants')).toBe(4);
    expect(await t.scalar('select count(*) from event_fingerprints')).toBe(4);
  });
});
