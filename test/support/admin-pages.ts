import request from 'supertest';
import type { TestApp } from './test-app';

export const PASSWORD = 'correct horse battery staple';

/** The CSRF token in a page's forms. */
export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error('no CSRF token on the page');
  return match[1];
}

export async function createAdmin(t: TestApp, email: string, siteIds: number[], timeZone = 'Europe/Berlin') {
  return await t.composed.services.admins.createAdmin({ email, password: PASSWORD, timeZone, siteIds });
}

/** A cookie-keeping client signed in through the real sign-in form, and the session's CSRF token. */
export async function signIn(t: TestApp, email: string, password = PASSWORD) {
  const agent = request.agent(t.app);
  const form = await agent.get('/admin/sign-in').expect(200);
  await agent.post('/admin/sign-in').type('form').send({ _csrf: csrfFrom(form.text), email, password }).expect(303);
  const page = await agent.get('/admin').redirects(1).expect(200);
  return { agent, csrf: csrfFrom(page.text) };
}
