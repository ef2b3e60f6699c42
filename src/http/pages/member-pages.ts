import { Router, type Request, type Response } from 'express';
import { InvalidInputError } from '../../domain/errors';
import type { Site } from '../../domain/model';
import type { GrantDetail } from '../../domain/members/member-service';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { formatTime, wallTimeToDate } from './format';
import type { FormProblem, PageKit } from './page-kit';
import { GrantForm, LevelForm, MemberSearchForm } from './page-schemas';
import { actorLabel, changeLabel } from './view-models';

const PAGE_SIZE = 50;

const idOf = (value: unknown) => (typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : 0);

/** Members (search, a member's access and why, manual grants) and the site's access levels. */
export function createMemberPages(services: AppServices, kit: PageKit): Router {
  const { sites, members, access } = services;
  const router = Router();

  router.get('/sites/:siteId/members', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const { q, after } = MemberSearchForm.parse(req.query);
    const found = await members.search(site, { query: q || undefined, limit: PAGE_SIZE, afterId: after });
    const last = found[found.length - 1];
    const next = found.length === PAGE_SIZE && last ? new URLSearchParams({ ...(q ? { q } : {}), after: String(last.id) }) : null;
    kit.render(res, 'members/list.njk', {
      layout: await kit.layout(res, site, 'members', 'Members'),
      q: q ?? '',
      members: found.map((member) => ({
        id: member.id,
        name: [member.firstName, member.lastName].filter(Boolean).join(' '),
        email: member.email,
        leadId: member.kartraLeadId,
        levels: member.levels.map((level) => level.name),
      })),
      nextLink: next ? `?${next.toString()}` : null,
    });
  });

  function describeSource(grant: GrantDetail): string {
    if (grant.sourceType === 'manual') return 'Granted by hand';
    // assetLabel reads `tag "VIP"` or `membership "Academy" level "Pro"`; the page escapes it as text.
    if (grant.sourceType === 'tag') return `Kartra ${grant.assetLabel ?? 'tag (no longer known)'}`;
    if (grant.sourceType === 'membership') return `Kartra ${grant.assetLabel ?? 'membership level (no longer known)'}`;
    const order = grant.transactionId ? `, order ${grant.transactionId}` : '';
    const subscription = grant.subscriptionId ? `, subscription ${grant.subscriptionId}` : '';
    return `Purchase of product ${grant.productId ?? '?'}${order}${subscription}`;
  }

  async function renderMember(req: Request, res: Response, site: Site, extra: { problem?: FormProblem; typed?: { levelId: string; expiresAt: string } } = {}) {
    const timeZone = kit.timeZoneOf(res);
    const detail = await members.detail(site, idOf(req.params.memberId));
    const grantsByLevel = new Map<number, GrantDetail[]>();
    for (const grant of detail.grants) grantsByLevel.set(grant.levelId, [...(grantsByLevel.get(grant.levelId) ?? []), grant]);
    const effectiveIds = new Set(detail.levels.map((level) => level.id));
    const notice = req.query.notice === 'granted' ? 'Level granted.' : req.query.notice === 'revoked' ? 'Manual grant revoked.' : null;
    kit.render(
      res,
      'members/detail.njk',
      {
        layout: await kit.layout(res, site, 'members', detail.email ?? `Member ${detail.id}`),
        notice,
        member: {
          id: detail.id,
          name: [detail.firstName, detail.lastName].filter(Boolean).join(' '),
          email: detail.email,
          leadId: detail.kartraLeadId,
          createdAt: formatTime(detail.createdAt, timeZone),
          levels: detail.levels.map((level) => level.name),
        },
        access: [...grantsByLevel.entries()].map(([levelId, grants]) => ({
          levelName: grants[0]?.levelName ?? `level ${levelId}`,
          effective: effectiveIds.has(levelId),
          grants: grants.map((grant) => ({
            id: grant.id,
            source: describeSource(grant),
            manual: grant.sourceType === 'manual',
            state: grant.effective ? 'Gives access' : grant.status === 'revoked' ? 'Revoked' : 'Ended',
            effective: grant.effective,
            revokedReason: grant.revokedReason,
            endsAt: grant.expiresAt ? formatTime(grant.expiresAt, timeZone) : null,
            canRevoke: grant.sourceType === 'manual' && grant.status === 'active',
            history: grant.history.map((entry) => ({
              at: formatTime(entry.at, timeZone),
              change: changeLabel(entry.change),
              reason: entry.reason,
              eventId: entry.eventId,
              actor: actorLabel(entry.actor),
            })),
          })),
        })),
        emailChanges: detail.emailChanges.map((change) => ({ previousEmail: change.previousEmail, newEmail: change.newEmail, eventId: change.eventId, at: formatTime(change.changedAt, timeZone) })),
        levels: (await sites.listLevels(site)).map((level) => ({ id: String(level.id), name: level.name })),
        grantForm: { levelId: extra.typed?.levelId ?? '', expiresAt: extra.typed?.expiresAt ?? '', problem: extra.problem ?? null },
        timeZone,
      },
      extra.problem?.status ?? 200,
    );
  }

  router.get('/sites/:siteId/members/:memberId', async (req, res) => {
    await renderMember(req, res, await kit.siteOf(req, res));
  });

  router.post('/sites/:siteId/members/:memberId/grants', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const memberId = idOf(req.params.memberId);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const typed = { levelId: String(body.levelId ?? '').slice(0, 20), expiresAt: String(body.expiresAt ?? '').slice(0, 40) };
    await kit.handleForm(
      async () => {
        const input = parseInput(GrantForm, body);
        let expiresAt: Date | null = null;
        if (input.expiresAt !== undefined) {
          expiresAt = wallTimeToDate(input.expiresAt, kit.timeZoneOf(res));
          if (!expiresAt) throw new InvalidInputError('invalid expiry', [{ path: 'expiresAt', message: 'a date and time, or leave empty for no end' }]);
        }
        await access.grantManually(site, memberId, input.levelId, expiresAt, kit.actorOf(res));
        res.redirect(303, `/admin/sites/${site.id}/members/${memberId}?notice=granted`);
      },
      async (problem) => renderMember(req, res, site, { problem, typed }),
    );
  });

  router.post('/sites/:siteId/members/:memberId/grants/:grantId/revoke', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const memberId = idOf(req.params.memberId);
    await access.revokeManualGrant(site, memberId, idOf(req.params.grantId), kit.actorOf(res));
    res.redirect(303, `/admin/sites/${site.id}/members/${memberId}?notice=revoked`);
  });

  // Levels
  async function renderLevels(req: Request, res: Response, site: Site, extra: { problem?: FormProblem; typedName?: string; renaming?: { id: number; name: string } } = {}) {
    const notices: Record<string, string> = { created: 'Level created.', renamed: 'Level renamed.', deleted: 'Level deleted.' };
    kit.render(
      res,
      'levels/index.njk',
      {
        layout: await kit.layout(res, site, 'levels', 'Access levels'),
        notice: notices[String(req.query.notice)] ?? null,
        levels: (await sites.listLevels(site)).map((level) => ({
          id: level.id,
          name: extra.renaming?.id === level.id ? extra.renaming.name : level.name,
          problem: extra.renaming?.id === level.id ? (extra.problem ?? null) : null,
        })),
        create: { name: extra.renaming ? '' : (extra.typedName ?? ''), problem: extra.renaming ? null : (extra.problem ?? null) },
      },
      extra.problem?.status ?? 200,
    );
  }

  router.get('/sites/:siteId/levels', async (req, res) => {
    await renderLevels(req, res, await kit.siteOf(req, res));
  });

  router.post('/sites/:siteId/levels', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const typedName = String((req.body as Record<string, unknown> | undefined)?.name ?? '').slice(0, 300);
    await kit.handleForm(
      async () => {
        await sites.createLevel(site, parseInput(LevelForm, req.body).name);
        res.redirect(303, `/admin/sites/${site.id}/levels?notice=created`);
      },
      async (problem) => renderLevels(req, res, site, { problem, typedName }),
    );
  });

  router.post('/sites/:siteId/levels/:levelId/rename', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const levelId = idOf(req.params.levelId);
    const typedName = String((req.body as Record<string, unknown> | undefined)?.name ?? '').slice(0, 300);
    await kit.handleForm(
      async () => {
        await sites.renameLevel(site, levelId, parseInput(LevelForm, req.body).name);
        res.redirect(303, `/admin/sites/${site.id}/levels?notice=renamed`);
      },
      async (problem) => renderLevels(req, res, site, { problem, renaming: { id: levelId, name: typedName } }),
    );
  });

  router.post('/sites/:siteId/levels/:levelId/delete', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const levelId = idOf(req.params.levelId);
    await kit.handleForm(
      async () => {
        await sites.deleteLevel(site, levelId);
        res.redirect(303, `/admin/sites/${site.id}/levels?notice=deleted`);
      },
      async (problem) => {
        const level = (await sites.listLevels(site)).find((candidate) => candidate.id === levelId);
        await renderLevels(req, res, site, { problem, renaming: level ? { id: level.id, name: level.name } : undefined });
      },
    );
  });

  return router;
}
