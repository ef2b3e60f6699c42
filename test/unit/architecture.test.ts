import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * The house rules of STYLE.md ("http -> domain <- db", one reader of process.env, Kartra's spelling only in
 * domain/kartra), checked on the source text so that breaking one fails the build with the file and the line.
 */

const REPO_ROOT = resolve(__dirname, '../..');

interface SourceText {
  /** Repository-relative, with forward slashes: `src/domain/model.ts`. */
  path: string;
  text: string;
}

interface ImportRef {
  specifier: string;
  /** For a relative specifier, the repository-relative path it points at (without extension); else null. */
  target: string | null;
  line: number;
}

const RULES = {
  domainPackages: 'src/domain/ imports no express, drizzle, better-sqlite3, pg, pino or helmet',
  domainLayers: 'src/domain/ imports nothing from src/ outside src/domain/ (no src/db, src/http, logger, config)',
  zodInDomain: 'zod appears in src/domain/ only under src/domain/kartra/',
  dbToHttp: 'src/db/ never imports src/http/',
  httpToDb: 'src/http/ never imports src/db/ (src/db/postgres/ included), drizzle-orm, better-sqlite3 or pg',
  processEnv: 'only the entry points (src/main.ts, src/cli.ts, src/local-postgres.ts) read process.env',
  kartraSpelling: "Kartra's wire field names appear only under src/domain/kartra/",
} as const;

const DOMAIN_FORBIDDEN_PACKAGES = ['express', 'drizzle-orm', 'drizzle-kit', 'better-sqlite3', 'pg', 'pino', 'helmet'];
const HTTP_FORBIDDEN_PACKAGES = ['drizzle-orm', 'drizzle-kit', 'better-sqlite3', 'pg'];
const ENV_READERS = ['src/main.ts', 'src/cli.ts', 'src/local-postgres.ts'];

/** Field names that only Kartra's wire format uses (generic ones such as product_id are also our column names). */
const KARTRA_WIRE_FIELDS = [
  'action_details',
  'transaction_details',
  'transaction_type',
  'transaction_parent_id',
  'transaction_subscription_id',
  'transaction_internal_subscription_id',
  'transaction_subscription_pay_number',
  'transaction_full_amount',
  'transaction_date',
  'original_id',
  'product_price_point',
  'lead_email',
  'lead_first_name',
  'lead_last_name',
  'buyer_id',
  'buyer_email',
  'buyer_first_name',
  'buyer_last_name',
];

function isPackage(specifier: string, name: string): boolean {
  return specifier === name || specifier.startsWith(`${name}/`);
}

function isUnder(path: string | null, folder: string): boolean {
  return path !== null && (path === folder || path.startsWith(`${folder}/`));
}

function parse(file: SourceText): ts.SourceFile {
  return ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function lineOf(source: ts.SourceFile, node: ts.Node): number {
  return source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
}

/** Static imports and re-exports (type-only included), `import()`, `require()` and `import x = require()`. */
function importsOf(file: SourceText): ImportRef[] {
  const source = parse(file);
  const found: ImportRef[] = [];
  const add = (literal: ts.Node | undefined) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return;
    const specifier = literal.text;
    const target = specifier.startsWith('.') ? posix.normalize(posix.join(posix.dirname(file.path), specifier)) : null;
    found.push({ specifier, target, line: lineOf(source, literal) });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Lines where the code reads the environment: process.env, process['env'], `const { env } = process`. */
function processEnvReads(file: SourceText): number[] {
  const source = parse(file);
  const lines: number[] = [];
  const isProcess = (node: ts.Node) => ts.isIdentifier(node) && node.text === 'process';
  const visit = (node: ts.Node) => {
    if (ts.isPropertyAccessExpression(node) && isProcess(node.expression) && node.name.text === 'env') lines.push(lineOf(source, node));
    if (ts.isElementAccessExpression(node) && isProcess(node.expression) && ts.isStringLiteralLike(node.argumentExpression) && node.argumentExpression.text === 'env') {
      lines.push(lineOf(source, node));
    }
    if (ts.isVariableDeclaration(node) && node.initializer && isProcess(node.initializer) && ts.isObjectBindingPattern(node.name)) {
      const names = node.name.elements.map((element) => (element.propertyName ?? element.name).getText(source));
      if (names.includes('env')) lines.push(lineOf(source, node));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return lines;
}

function lineNumberAt(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function findViolations(files: SourceText[]): string[] {
  const violations: string[] = [];
  const report = (rule: string, file: SourceText, line: number, what: string) => violations.push(`${file.path}:${line}: ${what} (rule: ${rule})`);

  for (const file of files) {
    const inDomain = isUnder(file.path, 'src/domain');
    const inKartra = isUnder(file.path, 'src/domain/kartra');
    const inDb = isUnder(file.path, 'src/db');
    const inHttp = isUnder(file.path, 'src/http');

    for (const ref of importsOf(file)) {
      const label = `imports '${ref.specifier}'`;
      if (inDomain) {
        if (DOMAIN_FORBIDDEN_PACKAGES.some((name) => isPackage(ref.specifier, name))) report(RULES.domainPackages, file, ref.line, label);
        if (ref.target !== null && !isUnder(ref.target, 'src/domain')) report(RULES.domainLayers, file, ref.line, label);
        if (isPackage(ref.specifier, 'zod') && !inKartra) report(RULES.zodInDomain, file, ref.line, label);
      }
      if (inDb && isUnder(ref.target, 'src/http')) report(RULES.dbToHttp, file, ref.line, label);
      if (inHttp && (isUnder(ref.target, 'src/db') || HTTP_FORBIDDEN_PACKAGES.some((name) => isPackage(ref.specifier, name)))) {
        report(RULES.httpToDb, file, ref.line, label);
      }
      if (!ENV_READERS.includes(file.path) && (ref.specifier === 'process' || ref.specifier === 'node:process')) {
        report(RULES.processEnv, file, ref.line, label);
      }
    }

    if (!ENV_READERS.includes(file.path)) {
      for (const line of processEnvReads(file)) report(RULES.processEnv, file, line, 'reads process.env');
    }

    if (!inKartra) {
      for (const field of KARTRA_WIRE_FIELDS) {
        for (const match of file.text.matchAll(new RegExp(`\\b${field}\\b`, 'g'))) {
          report(RULES.kartraSpelling, file, lineNumberAt(file.text, match.index), `mentions '${field}'`);
        }
      }
    }
  }
  return violations;
}

function sourceFiles(folder: string): SourceText[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|cts|js|mjs|cjs)$/.test(entry.name))
    .map((entry) => {
      const absolute = join(entry.parentPath, entry.name);
      return { path: relative(REPO_ROOT, absolute).split('\\').join('/'), text: readFileSync(absolute, 'utf8') };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}

describe('architecture of src/', () => {
  const files = sourceFiles(join(REPO_ROOT, 'src'));

  it('scans every source file of each layer', () => {
    const paths = files.map((file) => file.path);
    expect(paths).toEqual(
      expect.arrayContaining(['src/main.ts', 'src/cli.ts', 'src/compose.ts', 'src/app.ts', 'src/domain/ports.ts', 'src/db/schema.ts', 'src/db/postgres/schema.ts', 'src/http/webhook-routes.ts']),
    );
    expect(paths.filter((path) => path.startsWith('src/domain/kartra/')).length).toBeGreaterThan(3);
  });

  it('sees the imports the files really have', () => {
    const database = files.find((file) => file.path === 'src/db/database.ts');
    expect(database && importsOf(database).map((ref) => ref.specifier)).toEqual(expect.arrayContaining(['better-sqlite3', 'drizzle-orm/better-sqlite3']));
    const postgres = files.find((file) => file.path === 'src/db/postgres/database.ts');
    expect(postgres && importsOf(postgres).map((ref) => ref.specifier)).toEqual(expect.arrayContaining(['pg', 'drizzle-orm/node-postgres']));
    const main = files.find((file) => file.path === 'src/main.ts');
    expect(main && processEnvReads(main).length).toBeGreaterThan(0);
  });

  it('follows every rule (http -> domain <- db, one env reader, Kartra spelling in domain/kartra)', () => {
    const violations = findViolations(files);
    if (violations.length > 0) {
      throw new Error(`Architecture rules broken (see STYLE.md, "Dependency direction"):\n  ${violations.join('\n  ')}`);
    }
  });
});

describe('the architecture checker', () => {
  const rulesBroken = (path: string, text: string) => findViolations([{ path, text }]).map((violation) => violation.replace(/^.*\(rule: (.*)\)$/, '$1'));

  it.each([
    ['src/domain/access/x.ts', "import express from 'express';", RULES.domainPackages],
    ['src/domain/access/x.ts', "import { eq } from 'drizzle-orm';", RULES.domainPackages],
    ['src/domain/access/x.ts', "import type { Database } from 'better-sqlite3';", RULES.domainPackages],
    ['src/domain/access/x.ts', "const pino = require('pino');", RULES.domainPackages],
    ['src/domain/access/x.ts', "export { default } from 'helmet';", RULES.domainPackages],
    ['src/domain/access/x.ts', "const m = await import('drizzle-orm/sqlite-core');", RULES.domainPackages],
    ['src/domain/access/x.ts', "import { Pool } from 'pg';", RULES.domainPackages],
    ['src/domain/access/x.ts', "import type { PoolClient } from 'pg';", RULES.domainPackages],
    ['src/domain/access/x.ts', "import { grants } from '../../db/postgres/schema';", RULES.domainLayers],
    ['src/domain/access/x.ts', "import { grants } from '../../db/schema';", RULES.domainLayers],
    ['src/domain/x.ts', "import type { AppServices } from '../http/admin/services';", RULES.domainLayers],
    ['src/domain/x.ts', "type L = import('../logger').Logger;", RULES.domainLayers],
    ['src/domain/members/x.ts', "import { z } from 'zod';", RULES.zodInDomain],
    ['src/db/x.ts', "import { createApp } from '../http/webhook-routes';", RULES.dbToHttp],
    ['src/http/admin/x.ts', "import { openDatabase } from '../../db/database';", RULES.httpToDb],
    ['src/http/x.ts', "import { sql } from 'drizzle-orm';", RULES.httpToDb],
    ['src/http/x.ts', "import Database = require('better-sqlite3');", RULES.httpToDb],
    ['src/http/x.ts', "import { Pool } from 'pg';", RULES.httpToDb],
    ['src/http/admin/x.ts', "import { openPostgres } from '../../db/postgres/database';", RULES.httpToDb],
    ['src/db/postgres/x.ts', "import { createApp } from '../../http/webhook-routes';", RULES.dbToHttp],
    ['src/config.ts', 'export const port = process.env.PORT;', RULES.processEnv],
    ['src/http/x.ts', "const secret = process['env'].SECRET;", RULES.processEnv],
    ['src/compose.ts', 'const { env } = process;', RULES.processEnv],
    ['src/compose.ts', "import { env } from 'node:process';", RULES.processEnv],
    ['src/domain/access/x.ts', 'const type = body.action_details.transaction_details.transaction_type;', RULES.kartraSpelling],
    ['src/http/x.ts', "const email = form['buyer_email'] ?? form.lead_email;", RULES.kartraSpelling],
  ])('flags %s containing %s', (path, text, rule) => {
    expect(rulesBroken(path, text)).toContain(rule);
  });

  it.each([
    ['src/domain/kartra/x.ts', "import { z } from 'zod';\nconst t = body.action_details?.transaction_details?.buyer_email;"],
    ['src/domain/access/x.ts', "import { createHash } from 'node:crypto';\nimport type { Grant } from '../model';"],
    ['src/db/x.ts', "import { eq } from 'drizzle-orm';\nimport type { Grant } from '../domain/model';\nconst c = 'transaction_id';"],
    ['src/db/postgres/x.ts', "import { Pool } from 'pg';\nimport { drizzle } from 'drizzle-orm/node-postgres';\nimport type { Repositories } from '../../domain/ports';"],
    ['src/http/x.ts', "import { z } from 'zod';\nimport { NotFoundError } from '../domain/errors';"],
    ['src/main.ts', 'const config = loadConfig(process.env);'],
    ['src/cli.ts', 'run(process.argv, process.env);'],
    ['src/app.ts', 'const environment = options.env; // process.envelope is not process.env'],
  ])('accepts %s containing %s', (path, text) => {
    expect(rulesBroken(path, text)).toEqual([]);
  });
});
