import { Router, type Request, type Response } from 'express';
import type { Site } from '../../domain/model';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { formatTime, plural } from './format';
import type { FormProblem, PageKit } from './page-kit';
import { DeleteMappingForm, MappingForm } from './page-schemas';

interface TypedMapping {
  productId: string;
  levelIds: string[];
  applyToPast: boolean;
}

const asList = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)]);

/** Mappings (product -> levels) and discovered offers: products Kartra sent that no mapping covers yet. */
export function createMappingPages(services: AppServices, kit: PageKit): Router {
  const { sites, mappings } = services;
  const router = Router();

  async function renderMappings(req: Request, res: Response, site: Site, extra: { problem?: FormProblem; typed?: TypedMapping } = {}) {
    const timeZone = kit.timeZoneOf(res);
    const levels = (await sites.listLevels(site)).map((level) => ({ id: String(level.id), name: level.name }));
    const typed = extra.typed;
    const notice = noticeFrom(req.query);
    kit.render(
      res,
      'mappings/index.njk',
      {
        layout: await kit.layout(res, site, 'mappings', 'Product mappings'),
        notice,
        levels,
        mappings: (await mappings.list(site)).map((mapping) => ({
          productId: mapping.productId,
          productName: mapping.productName,
          levels: mapping.levels.map((level) => level.name),
          members: plural(mapping.memberCount, 'member'),
        })),
        discovered: (await mappings.discovered(site)).map((product) => ({
          productId: product.productId,
          productName: product.productName,
          firstSeenAt: formatTime(product.firstSeenAt, timeZone),
          lastSeenAt: formatTime(product.lastSeenAt, timeZone),
          events: product.eventCount,
          buyers: product.buyerCount,
          // A discovered row that failed validation keeps its ticks; other rows start empty.
          checked: typed && typed.productId === product.productId ? typed.levelIds : [],
          applyToPast: typed && typed.productId === product.productId ? typed.applyToPast : true,
          problem: typed && typed.productId === product.productId && extra.problem ? extra.problem : null,
        })),
        add: {
          productId: typed?.productId ?? '',
          checked: typed?.levelIds ?? [],
          applyToPast: typed?.applyToPast ?? false,
          // Errors of a discovered row are shown on that row, not on the add form.
          problem: extra.problem && !(typed && (await mappings.discovered(site)).some((product) => product.productId === typed.productId)) ? extra.problem : null,
        },
      },
      extra.problem?.status ?? 200,
    );
  }

  router.get('/sites/:siteId/mappings', async (req, res) => {
    await renderMappings(req, res, await kit.siteOf(req, res));
  });

  router.post('/sites/:siteId/mappings', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const typed: TypedMapping = { productId: String(body.productId ?? '').trim().slice(0, 64), levelIds: asList(body.levelIds), applyToPast: body.applyToPast === 'on' || body.applyToPast === 'yes' };
    await kit.handleForm(
      async () => {
        const input = parseInput(MappingForm, body);
        if (input.applyToPast && !input.confirm) {
          // Applying to the past changes members' access, so the admin sees how much it touches before it runs.
          const preview = await mappings.preview(site, input.productId);
          const chosen = new Set(input.levelIds);
          kit.render(res, 'mappings/preview.njk', {
            layout: await kit.layout(res, site, 'mappings', 'Apply to past purchases?'),
            productId: input.productId,
            levels: (await sites.listLevels(site)).filter((level) => chosen.has(level.id)).map((level) => ({ id: String(level.id), name: level.name })),
            unmappedEvents: plural(preview.unmappedEvents, 'stored event'),
            people: plural(preview.people, 'person', 'people'),
            recordedPurchases: plural(preview.recordedPurchases, 'recorded purchase'),
          });
          return;
        }
        const result = await mappings.save(site, { productId: input.productId, levelIds: input.levelIds, applyToPast: input.applyToPast });
        const query = new URLSearchParams({ notice: 'saved', product: result.mapping.productId });
        if (result.applied) {
          query.set('events', String(result.applied.eventCount));
          query.set('members', String(result.applied.membersReconciled));
        }
        res.redirect(303, `/admin/sites/${site.id}/mappings?${query.toString()}`);
      },
      async (problem) => renderMappings(req, res, site, { problem, typed }),
    );
  });

  router.post('/sites/:siteId/mappings/:productId/delete', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const { grants } = parseInput(DeleteMappingForm, req.body);
    const result = await mappings.remove(site, String(req.params.productId), grants === 'revoke', kit.actorOf(res));
    const query = new URLSearchParams({ notice: 'deleted', product: String(req.params.productId).slice(0, 64), revoked: String(result.revokedGrants) });
    res.redirect(303, `/admin/sites/${site.id}/mappings?${query.toString()}`);
  });

  return router;
}

/** Notices after a redirect are rebuilt from a fixed set of codes and numbers, never echoed from the query. */
function noticeFrom(query: Request['query']): string | null {
  const product = typeof query.product === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(query.product) ? query.product : null;
  const count = (value: unknown) => (typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : null);
  if (query.notice === 'saved' && product) {
    const events = count(query.events);
    const members = count(query.members);
    const applied = events !== null && members !== null ? ` Applied to the past: ${plural(events, 'event')} re-applied, ${plural(members, 'purchase')} brought in line.` : '';
    return `Mapping for product ${product} saved.${applied}`;
  }
  if (query.notice === 'deleted' && product) {
    const revoked = count(query.revoked) ?? 0;
    return revoked > 0 ? `Mapping for product ${product} deleted; ${plural(revoked, 'grant')} revoked.` : `Mapping for product ${product} deleted; members keep the access they have.`;
  }
  return null;
}
