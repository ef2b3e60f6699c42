import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InvalidInputError } from './domain/errors';
import type { AppServices } from './http/admin/services';

export const ADMIN_USAGE = `  admin create --email <email> [--site <siteId> ...] [--time-zone <IANA zone>]
                                       create a sign-in for the App Station pages; the password is read from
                                       standard input, or generated and printed once when none is piped in
  admin grant --email <email> --site <siteId>
                                       let an existing admin administer another site`;

/** Reads a piped password; an interactive terminal or empty input means "generate one". */
function readPipedPassword(stdinIsTty: boolean): string | null {
  if (stdinIsTty) return null;
  try {
    const text = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
    return text.length > 0 ? text : null;
  } catch {
    return null;
  }
}

/** `admin create` and `admin grant`; returns the exit code. */
export async function runAdminCommand(argv: string[], services: AppServices, stdinIsTty: boolean): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { email: { type: 'string' }, site: { type: 'string', multiple: true }, 'time-zone': { type: 'string' } },
  });
  const siteIds = (values.site ?? []).map(Number);
  if (siteIds.some((id) => !Number.isInteger(id) || id <= 0)) {
    console.error('--site takes a site id (a number)');
    return 2;
  }
  if (!values.email?.trim()) {
    console.error(`admin ${positionals[0] ?? ''} needs --email <email>`);
    return 2;
  }
  if (positionals[0] === 'create') {
    const piped = readPipedPassword(stdinIsTty);
    // 18 random bytes: 24 characters, about 144 bits.
    const password = piped ?? randomBytes(18).toString('base64url');
    try {
      const admin = await services.admins.createAdmin({ email: values.email, password, timeZone: values['time-zone'], siteIds });
      console.log(`admin ${admin.id} ${admin.email} created${siteIds.length ? ` for site(s) ${siteIds.join(', ')}` : ''}; times shown in ${admin.timeZone}.`);
      if (!piped) console.log(`Password (shown once; copy it now):\n${password}`);
      return 0;
    } catch (error) {
      if (error instanceof InvalidInputError) {
        console.error(`${error.message}: ${error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`);
        return 2;
      }
      throw error;
    }
  }
  if (positionals[0] === 'grant') {
    if (siteIds.length !== 1) {
      console.error('admin grant needs exactly one --site <siteId>');
      return 2;
    }
    await services.admins.grantSite(values.email, siteIds[0] as number);
    console.log(`${values.email.trim().toLowerCase()} now administers site ${siteIds[0]}`);
    return 0;
  }
  console.error(`unknown admin command\n\n${ADMIN_USAGE}`);
  return 2;
}
