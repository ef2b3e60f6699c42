import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The shared fixtures (../shared/kartra/fixtures), loaded by file name. */
export const FIXTURES_DIR = resolve(__dirname, '../../../shared/kartra/fixtures');

export function outboundFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'outbound', name), 'utf8')) as Record<string, unknown>;
}

export function outboundFixtureText(name: string): string {
  return readFileSync(join(FIXTURES_DIR, 'outbound', name), 'utf8');
}

export function listFixtures(channel: 'outbound' | 'ipn' | 'variants'): string[] {
  return readdirSync(join(FIXTURES_DIR, channel)).sort();
}

/** IPN fixtures are stored decoded, one key=value per line; on the wire they are one urlencoded form. */
export function ipnFixtureFields(name: string): [string, string][] {
  return readFileSync(join(FIXTURES_DIR, 'ipn', name), 'utf8')
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1)];
    });
}

export function ipnFixtureBody(name: string, overrides: Record<string, string> = {}): string {
  const fields = ipnFixtureFields(name).map(([key, value]) => [key, overrides[key] ?? value] as [string, string]);
  return new URLSearchParams(fields).toString();
}

export function variantFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'variants', name), 'utf8')) as Record<string, unknown>;
}

/** A deep copy with `transaction_details` fields replaced, for building variants of a fixture. */
export function withTransaction(body: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(body) as { action_details: { transaction_details: Record<string, unknown> } };
  Object.assign(copy.action_details.transaction_details, changes);
  return copy as unknown as Record<string, unknown>;
}

/** Our own tag and membership fixtures (test/fixtures/kartra-assets), invented in Kartra's documented shape. */
export const ASSET_FIXTURES_DIR = resolve(__dirname, '../fixtures/kartra-assets');

export function assetFixtureText(name: string): string {
  return readFileSync(join(ASSET_FIXTURES_DIR, name), 'utf8');
}

export function assetFixture(name: string): Record<string, unknown> {
  return JSON.parse(assetFixtureText(name)) as Record<string, unknown>;
}

export function listAssetFixtures(): string[] {
  return readdirSync(ASSET_FIXTURES_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort();
}
