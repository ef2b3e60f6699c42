import type { Router } from 'express';
import { siteFromPath } from '../middleware/require-token';
import { parseInput } from '../parse-input';
import { SaveKartraCredentials } from './admin-schemas';
import { presentKartraCredentials } from './presenters';
import type * as Wire from './response-schemas';
import type { Presented } from './response-schemas';
import type { AppServices } from './services';

/**
 * A site's Kartra API credentials: saved sealed, answered only as their App ID and key hint, tested against Kartra.
 * Registered on the admin router itself, as the notification routes are, so the route table stays one flat list.
 */
export function addKartraAccountRoutes(router: Router, services: AppServices): void {
  const { sites, kartraAccount } = services;
  const base = '/sites/:siteId/kartra/credentials';

  router.get(base, async (req, res) => {
    const view = await kartraAccount.describeCredentials(await siteFromPath(sites, req, res));
    res.json({ credentials: view && presentKartraCredentials(view), canStoreCredentials: kartraAccount.canStoreCredentials } satisfies Presented<typeof Wire.KartraCredentialsState>);
  });
  router.put(base, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json(presentKartraCredentials(await kartraAccount.saveCredentials(site, parseInput(SaveKartraCredentials, req.body))));
  });
  router.delete(base, async (req, res) => {
    await kartraAccount.removeCredentials(await siteFromPath(sites, req, res));
    res.status(204).end();
  });
  router.post(`${base}/test`, async (req, res) => {
    res.json((await kartraAccount.testConnection(await siteFromPath(sites, req, res))) satisfies Presented<typeof Wire.KartraConnectionTest>);
  });
}
