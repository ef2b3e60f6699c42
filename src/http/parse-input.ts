import type { z } from 'zod';
import { InvalidInputError } from '../domain/errors';

/** Validates input at the edge: a zod failure becomes one InvalidInputError with every issue and its path. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  throw new InvalidInputError(
    'the request is not valid',
    parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(root)', message: issue.message })),
  );
}
