import { Router, type Request, type Response } from 'express';
import type { IntegrationState } from '../../domain/sites/site-service';
import type { Site } from '../../domain/model';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { atLeast, formatTime, plural, pluralAtLeast } from './format';
import type { FormProblem, PageKit } from './page-kit';
import { KartraApiSettingsForm, KartraCredentialsForm, SettingsForm } from './page-schemas';
import { outcomeCounts } from './view-models';

/** "3 items", or "1000+ items" when a count stopped at its cap. */
function attentionLabel(counts: { total: number; totalIsLowerBound: boolean }) {
  return { total: atLeast(counts.total, counts.totalIsLowerBound), shown: counts.total > 0, label: pluralAtLeast(counts.total, counts.totalIsLowerBound, 'item') };
}

/** The App Station: the admin's sites, a site's integrations, the Kartra page and the needs-attention list. */
export function createSitePages(services: AppServices, kit: PageKit): Router {
  const { sites, eventLog, attention, kartraAccount } = services;
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

  /** What one of the Kartra page's forms brings back: its problem and what was typed (never a key or password). */
  interface KartraPageExtra {
    problem?: FormProblem;
    typed?: Record<string, unknown>;
    notice?: string;
    credentialsProblem?: FormProblem;
    typedAppId?: string;
    apiSettingsProblem?: FormProblem;
    typedApiSettings?: { verifyWithKartra: boolean; reconcileEveryHours: string };
  }

  async function renderKartra(req: Request, res: Response, site: Site, state: IntegrationState, extra: KartraPageExtra = {}) {
    const timeZone = kit.timeZoneOf(res);
    const credentials = await kartraAccount.describeCredentials(site);
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
        kartraApi: {
          canStore: kartraAccount.canStoreCredentials,
          credentials: credentials && {
            appId: credentials.appId,
            apiKeyHint: credentials.apiKeyHint,
            savedAt: formatTime(credentials.savedAt, timeZone),
            lastCheck: credentials.lastCheckedAt && { at: formatTime(credentials.lastCheckedAt, timeZone), ok: credentials.lastCheckOk === true, message: credentials.lastCheckMessage ?? '' },
            problemMessage: credentials.problemMessage,
          },
          // Right after "Test connection", its result is shown as the page's answer, not only as the stored last test.
          justTested: req.query.tested === '1' && credentials?.lastCheckedAt ? credentials.lastCheckOk === true : null,
          appId: extra.typedAppId ?? credentials?.appId ?? '',
          problem: extra.credentialsProblem ?? null,
          settingsProblem: extra.apiSettingsProblem ?? null,
          verifyWithKartra: extra.typedApiSettings?.verifyWithKartra ?? state.verifyWithKartra,
          reconcileEveryHours: extra.typedApiSettings?.reconcileEveryHours ?? String(state.reconcileEveryHours),
        },
      },
      extra.problem?.status ?? extra.credentialsProblem?.status ?? extra.apiSettingsProblem?.status ?? 200,
    );
  }

  const notices: Record<string, string> = {
    enabled: 'The Kartra integration is on. Kartra’s events are received at the URL you copied when it was first enabled.',
    disabled: 'The Kartra integration is off. Kartra’s posts are refused until you enable it again; nothing already received is lost.',
    saved: 'Settings saved.',
    'credentials-saved': 'Kartra API credentials saved. The key and password are stored sealed and are not shown again; test the connection to check them.',
    'credentials-removed': 'Kartra API credentials removed.',
    'api-settings-saved': 'Kartra API settings saved.',
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

  router.post('/sites/:siteId/kartra/credentials', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    await kit.handleForm(
      async () => {
        await kartraAccount.saveCredentials(site, parseInput(KartraCredentialsForm, body));
        res.redirect(303, `/admin/sites/${site.id}/kartra?notice=credentials-saved#kartra-api`);
      },
      // Only the App ID comes back into the form: a key or password is never written into a page.
      async (problem) => renderKartra(req, res, site, await sites.integrationState(site), { credentialsProblem: problem, typedAppId: typeof body.appId === 'string' ? body.appId : '' }),
    );
  });

  router.post('/sites/:siteId/kartra/credentials/test', async (req, res) => {
    const site = await kit.siteOf(req, res);
    // The outcome is stored on the credentials, so the page after the redirect shows it (and a reload does not re-test).
    await kartraAccount.testConnection(site);
    res.redirect(303, `/admin/sites/${site.id}/kartra?tested=1#kartra-api`);
  });

  router.post('/sites/:siteId/kartra/credentials/remove', async (req, res) => {
    const site = await kit.siteOf(req, res);
    await kit.handleForm(
      async () => {
        await kartraAccount.removeCredentials(site);
        res.redirect(303, `/admin/sites/${site.id}/kartra?notice=credentials-removed#kartra-api`);
      },
      async (problem) => renderKartra(req, res, site, await sites.integrationState(site), { credentialsProblem: problem }),
    );
  });

  router.post('/sites/:siteId/kartra/api-settings', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    await kit.handleForm(
      async () => {
        const input = parseInput(KartraApiSettingsForm, body);
        await sites.updateSettings(site, { verifyWithKartra: input.verifyWithKartra, reconcileEveryHours: input.reconcileEveryHours });
        res.redirect(303, `/admin/sites/${site.id}/kartra?notice=api-settings-saved#kartra-api`);
      },
      async (problem) => renderKartra(req, res, site, await sites.integrationState(site), {
          apiSettingsProblem: problem,
          typedApiSettings: { verifyWithKartra: body.verifyWithKartra === 'on', reconcileEveryHours: typeof body.reconcileEveryHours === 'string' ? body.reconcileEveryHours : '' },
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
      deadLetters: {
        count: atLeast(report.deadNotifications.count, report.deadNotifications.countIsLowerBound),
        windowDays: report.deadNotifications.windowDays,
        items: report.deadNotifications.latest.map((item) => ({ ...item, createdAt: formatTime(item.createdAt, timeZone) })),
      },
      pastDue: report.pastDue.map((item) => ({ ...item, failedAt: formatTime(item.failedAt, timeZone), graceEndsAt: formatTime(item.graceEndsAt, timeZone) })),
      chargebacks: report.chargebacks.map((item) => ({ ...item, occurredAt: formatTime(item.occurredAt, timeZone) })),
      quietFeed: { quiet: report.quietFeed.quiet, lastEventAt: formatTime(report.quietFeed.lastEventAt, timeZone), thresholdHours: report.quietFeed.thresholdHours },
    });
  });

  return router;
}
