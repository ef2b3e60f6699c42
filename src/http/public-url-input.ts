import { z } from 'zod';
import { checkPublicUrl } from '../domain/sites/public-url';

/**
 * A public URL as sent by the API or typed into the settings form. The rule itself is the domain's, and the site
 * service enforces it (and normalises the URL) whatever the entry point; checking it here too only lets a form show
 * this field's problem beside the others' instead of after they are fixed.
 */
export const publicUrlInput = z.string().superRefine((value, ctx) => {
  const checked = checkPublicUrl(value);
  if (!checked.ok) ctx.addIssue({ code: 'custom', message: checked.rule });
});
