import { Router, type Request, type Response } from 'express';
import type { IntegrationState } from '../../domain/sites/site-service';
import type { Site } from '../../domain/model';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { atLeast, formatTime, plural, pluralAtLeast } from './format';
import type { FormProblem, PageKit } from './page-kit';
import { SettingsForm } from './page-schemas';
import { outcomeCounts } from './view-models';

/** "3 items", or "1000+ items" when a count stopped at its cap. */
function attentionLabel(counts: { total: number; totalIsLowerBound: boolean }) {
  return { total: atLeast(counts.total, counts.totalIsLowerBound), shown: counts.total > 0, label: pluralAtLeast(counts.total, counts.totalIsLowerBound, 'item') };
}

/** The App Station: the admin's sites, a site's integrations, the Kartra page and the needs-attention list. */
export function createSitePages(services: AppServices, kit: PageKit): Router {
  const { sites, eventLog, attention } = services;
  const router = Router();

  router.get('/', async (_req, res) => {
    const visible = await sites.listSites(kit.signedIn(res).siteIds);
    if (visible.length === 1 && visible[0]) {
      res.redirect(303, `/admin/sites/${visible[0].id}`);
      return;
    }
    kit.render(res, 'app-station/sites.njk', {
      layout: kit.plainLayout(res, 'sites', 'Your sites'),
      sites: visible.map((site) => ({ id: site.id, name: site.name, kartraEnabled: site.kartraEnabled })),
    });
  });

  router.get('/sites/:siteId', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const state = await sites.integrationState(site);
    kit.render(res, 'app-station/site.njk', {
      layout: await kit.layout(res, site, 'app-station', 'App Station'),
      kartra: { enabled: state.enabled, lastEventAt: formatTime(state.lastEventAt, kit.timeZoneOf(res)), attention: attentionLabel(await kit.attentionCounts(res, site)) },
    });
  });

  async function renderKartra(req: Request, res: Response, site: Site, state: IntegrationState, extra: { problem?: FormProblem; typed?: Record<string, unknown>; notice?: string } = {}) {
    const timeZone = kit.timeZoneOf(res);
    const health = await eventLog.health(site, services.clock.now());
    const attentionCounts = await kit.attentionCounts(res, site);
    const urlForChecks = state.webhookUrl ?? state.webhookUrlMasked;
    const warnings: string[] = [];
    if (urlForChecks) {
      const url = new URL(urlForChecks);
      if (url.protocol !== 'https:') {
        warnings.push('This URL is not https: buyers’ details would cross the internet unencrypted. Set the public URL below to the site’s https address.');
      }
      if (!state.publicUrl) {
        warnings.push(`This URL uses the service’s default address (${url.host}), not the site’s own domain. Set the public URL below to the site’s custom domain, then rotate the URL.`);
      } else if (new URL(state.publicUrl).host !== url.host) {
        warnings.push(`This URL’s host (${url.host}) is not the site’s public domain (${new URL(state.publicUrl).host}). Rotate the URL to get one on the public domain.`);
      }
    }
    const typed = extra.typed ?? {};
    kit.render(
      res,
      'app-station/kartra.njk',
      {
        layout: await kit.layout(res, site, 'kartra', 'Kartra'),
        notice: extra.notice ?? null,
        enabled: state.enabled,
        revealedUrl: state.webhookUrl,
        maskedUrl: state.webhookUrlMasked,
        warnings,
        secrets: state.secrets.map((secret) => ({
          hint: secret.hint,
          current: secret.current,
          createdAt: formatTime(secret.createdAt, timeZone),
          validUntil: secret.validUntil ? formatTime(secret.validUntil, timeZone) : null,
          lastUsedAt: formatTime(secret.lastUsedAt, timeZone),
        })),
        health: {
          lastEventAt: formatTime(health.lastEvent?.at ?? null, timeZone),
          lastEventAction: health.lastEvent?.action ?? null,
          byAction: health.lastByAction.map((row) => ({ action: row.action, at: formatTime(row.at, timeZone) })),
          counts: outcomeCounts(health.countsLast24h, health.countsLast7d),
        },
        attention: attentionLabel(attentionCounts),
        settings: {
          publicUrl: 'publicUrl' in typed ? String(typed.publicUrl ?? '') : (state.publicUrl ?? ''),
          graceDays: 'graceDays' in typed ? String(typed.graceDays ?? '') : String(state.graceDays),
          cancelMode: 'cancelMode' in typed ? String(typed.cancelMode ?? '') : state.cancelMode,
          ipnSecretSet: state.ipnSecretSet,
          moneyChannels: typeof typed.moneyChannels === 'string' ? typed.moneyChannels : state.moneyChannels,
          secretGraceHours: state.secretGraceHours,
          // A form that failed validation shows the switches as they were sent, not as they are stored.
          tagAccess: 'accessSwitches' in typed ? typed.tagAccess === 'on' : state.tagAccess,
          membershipAccess: 'accessSwitches' in typed ? typed.membershipAccess === 'on' : state.membershipAccess,
        },
        problem: extra.problem ?? null,
      },
      extra.problem?.status ?? 200,
    );
  }

  const notices: Record<string, string> = {
    enabled: 'The Kartra integration is on. Kartra’s events are received at the URL you copied when it was first enabled.',
    disabled: 'The Kartra integration is off. Kartra’s posts are refused until you enable it again; nothing already received is lost.',
    saved: 'Settings saved.',
  };

  router.get('/sites/:siteId/kartra', async (req, res) => {
    const site = await kit.siteOf(req, res);
    await renderKartra(req, res, site, await sites.integrationState(site), { notice: notices[String(req.query.notice)] });
  });

  router.post('/sites/:siteId/kartra/enable', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const state = await sites.setEnabled(site, true);
    // The full URL exists only in this answer, so it is shown here rather than after a redirect.
    if (state.webhookUrl) await renderKartra(req, res, { ...site, kartraEnabled: true }, state, { notice: 'The Kartra integration is on.' });
    else res.redirect(303, `/admin/sites/${site.id}/kartra?notice=enabled`);
  });

  router.post('/sites/:siteId/kartra/disable', async (req, res) => {
    const site = await kit.siteOf(req, res);
    await sites.setEnabled(site, false);
    res.redirect(303, `/admin/sites/${site.id}/kartra?notice=disabled`);
  });

  router.post('/sites/:siteId/kartra/rotate', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const state = await sites.rotateSecret(site);
    await renderKartra(req, res, site, state, { notice: `A new URL was made. The old one keeps working for ${plural(site.secretGraceHours, 'hour')} so you can update Kartra without missing events.` });
  });

  router.post('/sites/:siteId/kartra/settings', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    await kit.handleForm(
      async () => {
        const input = parseInput(SettingsForm, body);
        await sites.updateSettings(site, {
          publicUrl: input.publicUrl ?? null,
          ipnSecret: input.clearIpnSecret ? null : input.ipnSecret,
          moneyChannels: input.moneyChannels,
          graceDays: input.graceDays,
          cancelMode: input.cancelMode,
          ...(input.accessSwitches ? { tagAccess: input.tagAccess, membershipAccess: input.membershipAccess } : {}),
        });
        res.redirect(303, `/admin/sites/${site.id}/kartra?notice=saved`);
      },
      async (problem) => renderKartra(req, res, site, await sites.integrationState(site), {
          problem,
          typed: {
            publicUrl: body.publicUrl,
            graceDays: body.graceDays,
            cancelMode: body.cancelMode,
            moneyChannels: body.moneyChannels,
            ...(body.accessSwitches === 'shown' ? { accessSwitches: true, tagAccess: body.tagAccess, membershipAccess: body.membershipAccess } : {}),
          },
        }),
    );
  });

  router.get('/sites/:siteId/attention', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const timeZone = kit.timeZoneOf(res);
    const report = await attention.report(site);
    kit.render(res, 'app-station/attention.njk', {
      layout: await kit.layout(res, site, 'attention', 'Needs attention', report),
      total: report.total,
      failed: { count: atLeast(report.failedEvents.count, report.failedEvents.countIsLowerBound), events: report.failedEvents.latest.map((event) => ({ ...event, receivedAt: formatTime(event.receivedAt, timeZone) })) },
      rejected: { count: atLeast(report.rejectedEvents.count, report.rejectedEvents.countIsLowerBound), events: report.rejectedEvents.latest.map((event) => ({ ...event, receivedAt: formatTime(event.receivedAt, timeZone) })) },
      unmapped: report.unmappedProducts.map((product) => ({
        productId: product.productId,
        productName: product.productName,
        events: pluralAtLeast(product.eventCount, product.countsCapped, 'event'),
        buyers: pluralAtLeast(product.buyerCount, product.countsCapped, 'buyer'),
      })),
      chargebackWindowDays: report.chargebackWindowDays,
      pastDue: report.pastDue.map((item) => ({ ...item, failedAt: formatTime(item.failedAt, timeZone), graceEndsAt: formatTime(item.graceEndsAt, timeZone) })),
      chargebacks: report.chargebacks.map((item) => ({ ...item, occurredAt: formatTime(item.occurredAt, timeZone) })),
      quietFeed: { quiet: report.quietFeed.quiet, lastEventAt: formatTime(report.quietFeed.lastEventAt, timeZone), thresholdHours: report.quietFeed.thresholdHours },
    });
  });

  return router;
}
