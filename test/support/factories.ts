import request from 'supertest';
import type { TestApp } from './test-app';

export interface SiteWithHook {
  siteId: number;
  siteKey: string;
  hookUrl: string;
  /** The hook path (no host), for supertest. */
  hookPath: string;
  levels: Record<string, number>;
}

/** Builds a site with levels and an enabled Kartra integration through the real API, as an admin would. */
export async function buildSite(t: TestApp, options: { name?: string; levels?: string[] } = {}): Promise<SiteWithHook> {
  const site = await t.api.post('/sites', { name: options.name ?? 'Watercolor Academy' }).expect(201);
  const levels: Record<string, number> = {};
  for (const name of options.levels ?? ['Foundations', 'Studio Members']) {
    const level = await t.api.post(`/sites/${site.body.id}/levels`, { name }).expect(201);
    levels[name] = level.body.id;
  }
  const integration = await t.api.put(`/sites/${site.body.id}/kartra`, { enabled: true }).expect(200);
  const hookUrl = integration.body.webhookUrl as string;
  return { siteId: site.body.id, siteKey: site.body.key, hookUrl, hookPath: new URL(hookUrl).pathname, levels };
}

export async function buildMapping(t: TestApp, site: SiteWithHook, productId: string, levelNames: string[], applyToPast = false) {
  return t.api
    .post(`/sites/${site.siteId}/mappings`, { productId, levelIds: levelNames.map((name) => site.levels[name]), applyToPast })
    .expect(201);
}

/** The fixtures' site: Foundations granted by 558475, Studio Members by 612001 (fixtures README, "The story"). */
export async function buildStorySite(t: TestApp): Promise<SiteWithHook> {
  const site = await buildSite(t);
  await buildMapping(t, site, '558475', ['Foundations']);
  await buildMapping(t, site, '612001', ['Studio Members']);
  return site;
}

/** Posts an outbound (JSON) body to the hook URL. */
export function postOutbound(t: TestApp, hookPath: string, body: object | string, contentType = 'application/json') {
  return request(t.app)
    .post(hookPath)
    .set('Content-Type', contentType)
    .send(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Posts an IPN (urlencoded form) body to the hook URL. */
export function postIpn(t: TestApp, hookPath: string, formBody: string, contentType = 'application/x-www-form-urlencoded') {
  return request(t.app).post(hookPath).set('Content-Type', contentType).send(formBody);
}

export async function memberLevels(t: TestApp, site: SiteWithHook, email: string): Promise<string[]> {
  const found = await t.api.get(`/sites/${site.siteId}/members?email=${encodeURIComponent(email)}`).expect(200);
  const member = found.body.members[0] as { levels: { name: string }[] } | undefined;
  return member ? member.levels.map((level) => level.name).sort() : [];
}
