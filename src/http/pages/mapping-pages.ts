import { Router, type Request, type Response } from 'express';
import { describeAsset } from '../../domain/assets/asset-identity';
import type { AssetReference } from '../../domain/kartra/kartra-event';
import type { AssetSelector, AssetSummary } from '../../domain/mapping/asset-mapping-service';
import type { AssetKind, Site } from '../../domain/model';
import { isProductId } from '../../domain/mapping/product-id';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { formatTime, plural, pluralAtLeast } from './format';
import type { FormProblem, PageKit } from './page-kit';
import { AssetMappingForm, DeleteAssetMappingForm, DeleteMappingForm, MappingForm, type AssetMappingInput } from './page-schemas';

interface TypedMapping {
  productId: string;
  levelIds: string[];
  applyToPast: boolean;
}

/** What was typed into one of the tag and membership forms, to show it again beside its errors. */
interface TypedAssetMapping {
  kind: 'discovered' | 'tag' | 'membership';
  key: string;
  tagName: string;
  membershipId: string;
  membershipName: string;
  levelId: string;
  levelName: string;
  levelIds: string[];
  applyToPast: boolean;
}

interface RenderExtra {
  problem?: FormProblem;
  typed?: TypedMapping;
  typedAsset?: TypedAssetMapping;
}

const asList = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)]);
const typedText = (value: unknown, max = 200) => (typeof value === 'string' ? value.slice(0, max) : '');
const isTicked = (value: unknown) => value === 'on' || value === 'yes';

const KIND_NAMES: Record<AssetKind, string> = { tag: 'Kartra tag', membership: 'Kartra membership level' };

function typedAssetOf(body: Record<string, unknown>): TypedAssetMapping {
  const kind = body.kind === 'tag' || body.kind === 'membership' ? body.kind : 'discovered';
  return {
    kind,
    key: typedText(body.key, 1000),
    tagName: typedText(body.tagName),
    membershipId: typedText(body.membershipId, 128),
    membershipName: typedText(body.membershipName),
    levelId: typedText(body.levelId, 128),
    levelName: typedText(body.levelName),
    levelIds: asList(body.levelIds),
    applyToPast: isTicked(body.applyToPast),
  };
}

/** Which asset a valid form names: a discovered one by key, or a tag or membership level as typed. */
function selectorOf(input: AssetMappingInput): AssetSelector {
  if (input.kind === 'discovered') return { key: input.key };
  if (input.kind === 'tag') return { reference: { kind: 'tag', tagName: input.tagName } };
  const reference: AssetReference = { kind: 'membership' };
  if (input.membershipId !== undefined) reference.membershipId = input.membershipId;
  if (input.membershipName !== undefined) reference.membershipName = input.membershipName;
  if (input.levelId !== undefined) reference.levelId = input.levelId;
  if (input.levelName !== undefined) reference.levelName = input.levelName;
  return { reference };
}

/** The form fields that name the asset again on the preview's confirm form. */
function assetFields(input: AssetMappingInput): { name: string; value: string }[] {
  const fields: { name: string; value: string | undefined }[] =
    input.kind === 'discovered'
      ? [{ name: 'key', value: input.key }]
      : input.kind === 'tag'
        ? [{ name: 'tagName', value: input.tagName }]
        : [
            { name: 'membershipId', value: input.membershipId },
            { name: 'membershipName', value: input.membershipName },
            { name: 'levelId', value: input.levelId },
            { name: 'levelName', value: input.levelName },
          ];
  return [{ name: 'kind', value: input.kind }, ...fields].filter((field): field is { name: string; value: string } => field.value !== undefined);
}

function mappedAssetRow(mapping: { key: string; kind: AssetKind; label: string; name: string | null; kartraId: string | null; membershipId: string | null; membershipName: string | null; levels: { name: string }[]; memberCount: number }) {
  return {
    key: mapping.key,
    name: mapping.name,
    kartraId: mapping.kartraId,
    membership: mapping.kind === 'membership' ? (mapping.membershipName ?? (mapping.membershipId ? `#${mapping.membershipId}` : null)) : null,
    membershipId: mapping.membershipName ? mapping.membershipId : null,
    levels: mapping.levels.map((level) => level.name),
    members: plural(mapping.memberCount, 'member'),
  };
}

/**
 * Mappings: products, Kartra tags and Kartra membership levels -> levels of the site; and what Kartra sent that no
 * mapping covers yet (discovered offers, tags and membership levels).
 */
export function createMappingPages(services: AppServices, kit: PageKit): Router {
  const { sites, mappings, assetMappings } = services;
  const router = Router();

  async function renderMappings(req: Request, res: Response, site: Site, extra: RenderExtra = {}) {
    const timeZone = kit.timeZoneOf(res);
    const levels = (await sites.listLevels(site)).map((level) => ({ id: String(level.id), name: level.name }));
    const { typed, typedAsset, problem } = extra;
    const discoveredProducts = await mappings.discovered(site);
    const discoveredAssets = await assetMappings.discovered(site);
    const mappedAssets = await assetMappings.list(site);
    // A discovered row that failed validation keeps its ticks and shows the error; other rows start empty.
    const failedRowKey = typedAsset?.kind === 'discovered' && discoveredAssets.some((asset) => asset.key === typedAsset.key) ? typedAsset.key : null;
    const discoveredRow = (asset: (typeof discoveredAssets)[number]) => {
      const failed = failedRowKey === asset.key;
      return {
        key: asset.key,
        name: asset.name,
        kartraId: asset.kartraId,
        membership: asset.kind === 'membership' ? (asset.membershipName ?? (asset.membershipId ? `#${asset.membershipId}` : null)) : null,
        membershipId: asset.membershipName ? asset.membershipId : null,
        firstSeenAt: formatTime(asset.firstSeenAt, timeZone),
        lastSeenAt: formatTime(asset.lastSeenAt, timeZone),
        events: plural(asset.eventCount, 'event'),
        leads: plural(asset.leadCount, 'lead'),
        checked: failed ? (typedAsset?.levelIds ?? []) : [],
        applyToPast: failed ? (typedAsset?.applyToPast ?? true) : true,
        problem: failed ? (problem ?? null) : null,
      };
    };
    const formOf = (kind: 'tag' | 'membership') => {
      const mine = typedAsset?.kind === kind ? typedAsset : null;
      return {
        tagName: mine?.tagName ?? '',
        membershipId: mine?.membershipId ?? '',
        membershipName: mine?.membershipName ?? '',
        levelId: mine?.levelId ?? '',
        levelName: mine?.levelName ?? '',
        checked: mine?.levelIds ?? [],
        applyToPast: mine?.applyToPast ?? false,
        problem: mine ? (problem ?? null) : null,
      };
    };
    kit.render(
      res,
      'mappings/index.njk',
      {
        layout: await kit.layout(res, site, 'mappings', 'Mappings'),
        notice: noticeFrom(req.query),
        // A discovered tag that is gone by the time its form is sent (mapped meanwhile): its error goes on top.
        pageProblem: typedAsset?.kind === 'discovered' && !failedRowKey ? (problem ?? null) : null,
        levels,
        tagAccess: site.tagAccess,
        membershipAccess: site.membershipAccess,
        mappings: (await mappings.list(site)).map((mapping) => ({
          productId: mapping.productId,
          productName: mapping.productName,
          levels: mapping.levels.map((level) => level.name),
          members: plural(mapping.memberCount, 'member'),
        })),
        mappedTags: mappedAssets.filter((asset) => asset.kind === 'tag').map(mappedAssetRow),
        mappedMemberships: mappedAssets.filter((asset) => asset.kind === 'membership').map(mappedAssetRow),
        discovered: discoveredProducts.map((product) => ({
          productId: product.productId,
          productName: product.productName,
          firstSeenAt: formatTime(product.firstSeenAt, timeZone),
          lastSeenAt: formatTime(product.lastSeenAt, timeZone),
          events: pluralAtLeast(product.eventCount, product.countsCapped, 'event'),
          buyers: pluralAtLeast(product.buyerCount, product.countsCapped, 'buyer'),
          checked: typed && typed.productId === product.productId ? typed.levelIds : [],
          applyToPast: typed && typed.productId === product.productId ? typed.applyToPast : true,
          problem: typed && typed.productId === product.productId && problem ? problem : null,
        })),
        discoveredTags: discoveredAssets.filter((asset) => asset.kind === 'tag').map(discoveredRow),
        discoveredMemberships: discoveredAssets.filter((asset) => asset.kind === 'membership').map(discoveredRow),
        add: {
          productId: typed?.productId ?? '',
          checked: typed?.levelIds ?? [],
          applyToPast: typed?.applyToPast ?? false,
          // Errors of a discovered row are shown on that row, not on the add form.
          problem: problem && typed && !discoveredProducts.some((product) => product.productId === typed.productId) ? problem : null,
        },
        addTag: formOf('tag'),
        addMembership: formOf('membership'),
      },
      problem?.status ?? 200,
    );
  }

  router.get('/sites/:siteId/mappings', async (req, res) => {
    await renderMappings(req, res, await kit.siteOf(req, res));
  });

  router.post('/sites/:siteId/mappings', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const typed: TypedMapping = { productId: String(body.productId ?? '').trim().slice(0, 64), levelIds: asList(body.levelIds), applyToPast: isTicked(body.applyToPast) };
    await kit.handleForm(
      async () => {
        const input = parseInput(MappingForm, body);
        if (input.applyToPast && !input.confirm) {
          // Applying to the past changes members' access, so the admin sees how much it touches before it runs.
          const preview = await mappings.preview(site, input.productId);
          kit.render(res, 'mappings/preview.njk', {
            layout: await kit.layout(res, site, 'mappings', 'Apply to past purchases?'),
            heading: 'Apply to past purchases?',
            subject: `product #${input.productId}`,
            fields: [{ name: 'productId', value: input.productId }],
            levels: await chosenLevels(site, input.levelIds),
            unmappedEvents: plural(preview.unmappedEvents, 'stored event'),
            people: plural(preview.people, 'person', 'people'),
            recorded: plural(preview.recordedPurchases, 'recorded purchase'),
            explanation: 'Members who bought this product get the levels; refunds and cancellations already received are respected.',
            confirmLabel: 'Save and apply to past purchases',
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

  async function chosenLevels(site: Site, levelIds: number[]) {
    const chosen = new Set(levelIds);
    return (await sites.listLevels(site)).filter((level) => chosen.has(level.id)).map((level) => ({ id: String(level.id), name: level.name }));
  }

  /** How the preview names the asset: its stored label when it is known, else the label of what was typed. */
  async function subjectOf(site: Site, input: AssetMappingInput, selector: AssetSelector): Promise<string> {
    let known: AssetSummary | undefined;
    if ('key' in selector) known = (await assetMappings.known(site)).find((asset) => asset.key === selector.key);
    if (known) return `the Kartra ${known.label}`;
    if (input.kind === 'tag') return `the Kartra ${describeAsset({ kind: 'tag', name: input.tagName ?? null, kartraId: null, membershipId: null, membershipName: null })}`;
    if (input.kind === 'membership') {
      return `the Kartra ${describeAsset({ kind: 'membership', name: input.levelName ?? null, kartraId: input.levelId ?? null, membershipId: input.membershipId ?? null, membershipName: input.membershipName ?? null })}`;
    }
    return 'the Kartra tag or membership level';
  }

  router.post('/sites/:siteId/asset-mappings', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    await kit.handleForm(
      async () => {
        const input = parseInput(AssetMappingForm, body);
        const selector = selectorOf(input);
        if (input.applyToPast && !input.confirm) {
          // As for products: the admin sees what applying to the past touches before anything changes.
          const preview = await assetMappings.preview(site, selector);
          kit.render(res, 'mappings/preview.njk', {
            layout: await kit.layout(res, site, 'mappings', 'Apply to past events?'),
            heading: 'Apply to past events?',
            subject: await subjectOf(site, input, selector),
            action: 'asset-mappings',
            fields: assetFields(input),
            levels: await chosenLevels(site, input.levelIds),
            unmappedEvents: plural(preview.unmappedEvents, 'stored event'),
            people: plural(preview.people, 'person', 'people'),
            recorded: `${plural(preview.recordedMembers, 'member')} with it on record`,
            explanation: 'People who were given it in Kartra get the levels; removals already received are respected.',
            confirmLabel: 'Save and apply to past events',
          });
          return;
        }
        const result = await assetMappings.save(site, { asset: selector, levelIds: input.levelIds, applyToPast: input.applyToPast });
        const query = new URLSearchParams({ notice: 'asset-saved', kind: result.mapping.kind });
        if (result.applied) {
          query.set('events', String(result.applied.eventCount));
          query.set('members', String(result.applied.membersReconciled));
        }
        res.redirect(303, `/admin/sites/${site.id}/mappings?${query.toString()}`);
      },
      async (problem) => renderMappings(req, res, site, { problem, typedAsset: typedAssetOf(body) }),
    );
  });

  // The key travels in the body, not the path: keys are built from Kartra's names and may hold any character.
  router.post('/sites/:siteId/asset-mappings/delete', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const { key, grants } = parseInput(DeleteAssetMappingForm, req.body);
    const mapping = await assetMappings.get(site, key);
    const result = await assetMappings.remove(site, key, grants === 'revoke', kit.actorOf(res));
    const query = new URLSearchParams({ notice: 'asset-deleted', kind: mapping.kind, revoked: String(result.revokedGrants) });
    res.redirect(303, `/admin/sites/${site.id}/mappings?${query.toString()}`);
  });

  return router;
}

/**
 * Notices after a redirect are rebuilt from a fixed set of codes and numbers, never echoed from the query: a tag's
 * name is user text, so a tag's notice names only its kind.
 */
function noticeFrom(query: Request['query']): string | null {
  const product = typeof query.product === 'string' && isProductId(query.product) ? query.product : null;
  const kind = query.kind === 'tag' || query.kind === 'membership' ? KIND_NAMES[query.kind] : null;
  const count = (value: unknown) => (typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : null);
  const events = count(query.events);
  const members = count(query.members);
  const revoked = count(query.revoked) ?? 0;
  if (query.notice === 'saved' && product) {
    const applied = events !== null && members !== null ? ` Applied to the past: ${plural(events, 'event')} re-applied, ${plural(members, 'purchase')} brought in line.` : '';
    return `Mapping for product ${product} saved.${applied}`;
  }
  if (query.notice === 'deleted' && product) {
    return revoked > 0 ? `Mapping for product ${product} deleted; ${plural(revoked, 'grant')} revoked.` : `Mapping for product ${product} deleted; members keep the access they have.`;
  }
  if (query.notice === 'asset-saved' && kind) {
    const applied = events !== null && members !== null ? ` Applied to the past: ${plural(events, 'event')} re-applied, ${plural(members, 'member')} brought in line.` : '';
    return `Mapping of the ${kind} saved.${applied}`;
  }
  if (query.notice === 'asset-deleted' && kind) {
    return revoked > 0 ? `Mapping of the ${kind} deleted; ${plural(revoked, 'grant')} revoked.` : `Mapping of the ${kind} deleted; members keep the access they have.`;
  }
  return null;
}
