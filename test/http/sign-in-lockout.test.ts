import request from 'supertest';
import { createAdmin, csrfFrom, PASSWORD } from '../support/admin-pages';
import { buildTestApp, type TestApp } from '../support/test-app';

const NEW_PASSWORD = 'a different long passphrase';

/**
 * A browser at one client address, keeping its own cookies so a test can read, copy or forge its device cookie. The
 * app trusts one proxy, so X-Forwarded-For gives each browser its address.
 */
class Browser {
  readonly cookies = new Map<string, string>();
  private csrf = '';
  constructor(
    private readonly t: TestApp,
    readonly address: string,
  ) {}

  private keep(setCookie: string | string[] | undefined) {
    for (const line of ([] as string[]).concat(setCookie ?? [])) {
      const [name = '', value = ''] = (line.split(';')[0] ?? '').split('=');
      if (value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private get cookieHeader() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async signIn(email: string, password: string, options: { staySignedIn?: boolean } = {}) {
    if (!this.csrf) {
      const page = await request(this.t.app).get('/admin/sign-in').set('X-Forwarded-For', this.address).set('Cookie', this.cookieHeader).expect(200);
      this.keep(page.headers['set-cookie']);
      this.csrf = csrfFrom(page.text);
    }
    const answer = await request(this.t.app).post('/admin/sign-in').set('X-Forwarded-For', this.address).set('Cookie', this.cookieHeader).type('form').send({ _csrf: this.csrf, email, password });
    this.keep(answer.headers['set-cookie']);
    // Sign-in spends the form's token. Unless told to stay, the browser then drops its session (keeping the device
    // cookie), so its next sign-in is a real one.
    if (answer.status === 303) {
      this.csrf = '';
      if (!options.staySignedIn) this.cookies.delete('ka_session');
    }
    return answer;
  }

  /** Changes the password on the account page of this (signed-in) browser. */
  async changePassword(currentPassword: string, newPassword: string) {
    const page = await request(this.t.app).get('/admin/account').set('X-Forwarded-For', this.address).set('Cookie', this.cookieHeader).expect(200);
    const answer = await request(this.t.app)
      .post('/admin/account/password')
      .set('X-Forwarded-For', this.address)
      .set('Cookie', this.cookieHeader)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), currentPassword, newPassword, confirmPassword: newPassword });
    this.keep(answer.headers['set-cookie']);
    return answer;
  }

  async guess(email: string, times: number) {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < times; attempt += 1) statuses.push((await this.signIn(email, `wrong guess ${attempt} xxxx`)).status);
    return statuses;
  }
}

/**
 * Lockouts, after OWASP's "Slow Down Online Guessing Attacks with Device Cookies": failures count per email and
 * address; an email-wide limit stops guessing from many addresses; a browser that signed in before (device cookie) is
 * judged only by its own failures, so other people's guesses never lock the admin out of it.
 */
describe('sign-in lockouts', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await buildTestApp({ TRUST_PROXY: '1' });
    await createAdmin(t, 'ann@example.com', []);
    await createAdmin(t, 'bob@example.com', []);
  });
  afterEach(() => t.close());

  it('lets an admin sign in from another address while a guesser at one address is refused', async () => {
    const attacker = new Browser(t, '203.0.113.7');
    expect(await attacker.guess('ann@example.com', 8)).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect((await attacker.signIn('ann@example.com', PASSWORD)).status).toBe(429);

    expect((await new Browser(t, '198.51.100.20').signIn('ann@example.com', PASSWORD)).status).toBe(303);
  });

  it('keeps a sprayer at one address from blocking other admins elsewhere, or admins there in browsers they used before', async () => {
    const officeAddress = '192.0.2.50';
    const bobAtTheOffice = new Browser(t, officeAddress);
    expect((await bobAtTheOffice.signIn('bob@example.com', PASSWORD)).status).toBe(303);

    const sprayer = new Browser(t, officeAddress);
    const sprayed = [...(await sprayer.guess('ann@example.com', 5)), ...(await sprayer.guess('bob@example.com', 5))];
    for (let attempt = 0; attempt < 15; attempt += 1) sprayed.push((await sprayer.signIn(`guess${attempt}@example.com`, 'not the password')).status);
    expect(sprayed.filter((status) => status === 401)).toHaveLength(20);
    expect(sprayed.slice(20).every((status) => status === 429)).toBe(true);

    // A first-time browser at the sprayer's address shares its limit; Bob's own browser there does not.
    expect((await new Browser(t, officeAddress).signIn('bob@example.com', PASSWORD)).status).toBe(429);
    expect((await bobAtTheOffice.signIn('bob@example.com', PASSWORD)).status).toBe(303);
    expect((await new Browser(t, '198.51.100.21').signIn('ann@example.com', PASSWORD)).status).toBe(303);
    expect((await new Browser(t, '198.51.100.22').signIn('bob@example.com', PASSWORD)).status).toBe(303);
  });

  describe('once guesses from many addresses reach the limit for the whole email', () => {
    let annsLaptop: Browser;
    beforeEach(async () => {
      annsLaptop = new Browser(t, '198.51.100.30');
      expect((await annsLaptop.signIn('ann@example.com', PASSWORD)).status).toBe(303);
      for (const address of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']) {
        expect(await new Browser(t, address).guess('ann@example.com', 5)).toEqual([401, 401, 401, 401, 401]);
      }
    });

    it('refuses the right password from a browser without a device cookie, saying when to retry and what helps', async () => {
      const refused = await new Browser(t, '198.51.100.31').signIn('ann@example.com', PASSWORD);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBe(15 * 60);
      expect(refused.text).toContain('Too many sign-in attempts for this account. Try again in 15 minutes, or sign in from a browser you have signed in with before.');
    });

    it('signs in the browser that signed in before, from any address', async () => {
      const laptopOnTheTrain = new Browser(t, '198.51.100.99');
      laptopOnTheTrain.cookies.set('ka_device', annsLaptop.cookies.get('ka_device') ?? '');
      expect((await laptopOnTheTrain.signIn('ann@example.com', PASSWORD)).status).toBe(303);
      expect((await annsLaptop.signIn('ann@example.com', PASSWORD)).status).toBe(303);
    });

    it('does not let a forged device cookie, another admin\'s, or one from before a password change through', async () => {
      const annsCookie = annsLaptop.cookies.get('ka_device') ?? '';
      const [annId, nonce, mac = ''] = annsCookie.split('.');
      const bobsBrowser = new Browser(t, '198.51.100.40');
      expect((await bobsBrowser.signIn('bob@example.com', PASSWORD)).status).toBe(303);
      const bobsCookie = bobsBrowser.cookies.get('ka_device') ?? '';
      const [bobId, bobsNonce, bobsMac] = bobsCookie.split('.');

      const forgeries = {
        'another admin\'s cookie': bobsCookie,
        "another admin's cookie relabelled with Ann's id": `${annId}.${bobsNonce}.${bobsMac}`,
        'a changed mac': `${annId}.${nonce}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`,
        'a made-up nonce': `${annId}.made-up-nonce.${mac}`,
        'no mac': `${annId}.${nonce}`,
        'garbage': 'not-a-device-cookie',
      };
      expect(bobId).not.toBe(annId);
      for (const [what, cookie] of Object.entries(forgeries)) {
        const browser = new Browser(t, '198.51.100.41');
        browser.cookies.set('ka_device', cookie);
        expect({ what, status: (await browser.signIn('ann@example.com', PASSWORD)).status }).toEqual({ what, status: 429 });
      }

      // A password change re-keys Ann's device cookies: the one her laptop held before it no longer counts, and the
      // laptop, which made the change, holds a new one.
      expect((await annsLaptop.signIn('ann@example.com', PASSWORD, { staySignedIn: true })).status).toBe(303);
      expect((await annsLaptop.changePassword(PASSWORD, NEW_PASSWORD)).status).toBe(303);
      expect(annsLaptop.cookies.get('ka_device')).not.toBe(annsCookie);
      const withTheOldCookie = new Browser(t, annsLaptop.address);
      withTheOldCookie.cookies.set('ka_device', annsCookie);
      expect((await withTheOldCookie.signIn('ann@example.com', NEW_PASSWORD)).status).toBe(429);
      annsLaptop.cookies.delete('ka_session');
      expect((await annsLaptop.signIn('ann@example.com', NEW_PASSWORD)).status).toBe(303);
    });
  });

  it('locks out a device cookie that keeps failing, without locking out the admin elsewhere', async () => {
    const laptop = new Browser(t, '198.51.100.50');
    expect((await laptop.signIn('ann@example.com', PASSWORD)).status).toBe(303);
    // The same cookie used from many addresses (a stolen one) still has one budget.
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 7; attempt += 1) {
      const thief = new Browser(t, `203.0.113.${60 + attempt}`);
      thief.cookies.set('ka_device', laptop.cookies.get('ka_device') ?? '');
      statuses.push((await thief.signIn('ann@example.com', `wrong guess ${attempt} xxxx`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    const refused = await laptop.signIn('ann@example.com', PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('Too many sign-in attempts from this browser. Try again in 15 minutes.');

    expect((await new Browser(t, '198.51.100.51').signIn('ann@example.com', PASSWORD)).status).toBe(303);
    t.clock.advanceMs(15 * 60 * 1000);
    expect((await laptop.signIn('ann@example.com', PASSWORD)).status).toBe(303);
  });

  it('sets the device cookie httpOnly, SameSite=Lax, on /admin only, for 180 days, and Secure over https', async () => {
    const page = await request(t.app).get('/admin/sign-in').set('X-Forwarded-Proto', 'https').expect(200);
    const signInCookie = ([] as string[]).concat(page.headers['set-cookie'] ?? []).map((line) => line.split(';')[0]).join('; ');
    const signedIn = await request(t.app)
      .post('/admin/sign-in')
      .set('X-Forwarded-Proto', 'https')
      .set('Cookie', signInCookie)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), email: 'ann@example.com', password: PASSWORD })
      .expect(303);
    const deviceCookie = ([] as string[]).concat(signedIn.headers['set-cookie'] ?? []).find((line) => line.startsWith('ka_device='));
    expect(deviceCookie).toMatch(/^ka_device=\d+\.[\w-]+\.[\w-]+;/);
    expect(deviceCookie).toMatch(/; Max-Age=15552000;/);
    expect(deviceCookie).toMatch(/; Path=\/admin;/);
    expect(deviceCookie).toMatch(/; HttpOnly/);
    expect(deviceCookie).toMatch(/; Secure/);
    expect(deviceCookie).toMatch(/; SameSite=Lax/);
  });
});
