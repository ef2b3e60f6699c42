import type { Request, Response } from 'express';
import nunjucks from 'nunjucks';
import { ConflictError, InvalidInputError, NotFoundError } from '../../domain/errors';
import type { Site } from '../../domain/model';
import type { SignedInAdmin } from '../../domain/admins/admin-auth-service';
import type { AttentionCounts } from '../../domain/attention/attention-service';
import type { AppServices } from '../admin/services';

/** What every signed-in page's layout needs; handlers add their own view model on top. */
export interface LayoutModel {
  me: { email: string; timeZone: string } | null;
  csrfToken: string | null;
  site: { id: number; name: string; attentionTotal: number; attentionTotalIsLowerBound: boolean } | null;
  section: string;
  title: string;
}

export interface FormProblem {
  status: number;
  /** Field name -> message, for the messages beside each field. */
  errors: Record<string, string>;
  /** One sentence for the top of the form. */
  message: string;
}

export type PageKit = ReturnType<typeof createPageKit>;

/**
 * Rendering and the small helpers every page handler shares. Templates are nunjucks with autoescape on, so any
 * value a view model carries (a lead's name, an email, a raw body) is text, never markup.
 */
export function createPageKit(services: AppServices, viewsDir: string) {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(viewsDir), { autoescape: true, throwOnUndefined: false });

  function signedIn(res: Response): SignedInAdmin {
    const current = res.locals.signedIn as SignedInAdmin | undefined;
    if (!current) throw new Error('page handler ran without a signed-in admin');
    return current;
  }

  const timeZoneOf = (res: Response) => signedIn(res).admin.timeZone;
  const actorOf = (res: Response) => `admin:${signedIn(res).admin.email}`;

  /** The site in the path, if this admin administers it; any other site is a 404, indistinguishable from none. */
  async function siteOf(req: Request, res: Response): Promise<Site> {
    const raw = String(req.params.siteId ?? '');
    if (!/^\d{1,12}$/.test(raw)) throw new NotFoundError('site', raw.slice(0, 40));
    return await services.sites.requireSite(Number(raw), signedIn(res).siteIds);
  }

  /** The layout of a page outside any site (sign-in, account, errors). */
  function plainLayout(res: Response, section: string, title: string): LayoutModel {
    const current = res.locals.signedIn as SignedInAdmin | undefined;
    return {
      me: current ? { email: current.admin.email, timeZone: current.admin.timeZone } : null,
      csrfToken: current?.session.csrfToken ?? null,
      site: null,
      section,
      title,
    };
  }

  /**
   * The site's needs-attention counts, computed once per request however many parts of the page show them (the
   * badge, the Kartra page's link, the re-apply form's count).
   */
  function attentionCounts(res: Response, site: Site): Promise<AttentionCounts> {
    const memo = res.locals.attentionCounts as { siteId: number; counts: Promise<AttentionCounts> } | undefined;
    if (memo?.siteId === site.id) return memo.counts;
    const counts = services.attention.counts(site);
    res.locals.attentionCounts = { siteId: site.id, counts };
    return counts;
  }

  /**
   * A site's page layout, with the needs-attention badge. A page that already holds the full report passes its
   * total, so the badge and the page agree and nothing is counted twice.
   */
  async function layout(res: Response, site: Site | null, section: string, title: string, attention?: { total: number; totalIsLowerBound: boolean }): Promise<LayoutModel> {
    const base = plainLayout(res, section, title);
    if (!site) return base;
    const { total, totalIsLowerBound } = attention ?? (await attentionCounts(res, site));
    return { ...base, site: { id: site.id, name: site.name, attentionTotal: total, attentionTotalIsLowerBound: totalIsLowerBound } };
  }

  function render(res: Response, template: string, model: { layout: LayoutModel } & Record<string, unknown>, status = 200): void {
    res.status(status).type('html').send(env.render(template, model));
  }

  /**
   * Runs a form's action. Invalid input and refused changes (conflicts) are expected outcomes of a form: they are
   * handed to `rerender` with field errors, so the form comes back with what was typed. Anything else propagates.
   */
  async function handleForm(action: () => void | Promise<void>, rerender: (problem: FormProblem) => void | Promise<void>): Promise<void> {
    try {
      await action();
    } catch (error) {
      if (error instanceof InvalidInputError) {
        const errors: Record<string, string> = {};
        for (const issue of error.issues) errors[issue.path.split('.')[0] ?? issue.path] ??= issue.message;
        await rerender({ status: 422, errors, message: 'Please correct the fields marked below.' });
        return;
      }
      if (error instanceof ConflictError) {
        await rerender({ status: 409, errors: {}, message: error.message });
        return;
      }
      throw error;
    }
  }

  return { env, signedIn, timeZoneOf, actorOf, siteOf, plainLayout, attentionCounts, layout, render, handleForm };
}
