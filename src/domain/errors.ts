/** Domain errors carry a stable code and never an HTTP status; http/middleware/error-handler.ts maps codes. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

export class NotFoundError extends DomainError {
  readonly code = 'not_found';
  constructor(
    readonly entity: string,
    readonly id?: string | number,
  ) {
    super(id === undefined ? `${entity} not found` : `${entity} ${id} not found`);
  }
}

export interface InputIssue {
  path: string;
  message: string;
}

export class InvalidInputError extends DomainError {
  readonly code = 'invalid_input';
  constructor(
    message: string,
    readonly issues: InputIssue[] = [],
  ) {
    super(message);
  }
}

export class ConflictError extends DomainError {
  readonly code = 'conflict';
}

/**
 * Another unit of work changed the same rows at the same moment (another service instance, on an engine that runs
 * units concurrently). The storage adapter raises it and runs the whole unit again; the caller sees it only when the
 * retries ran out, and running the same request again resolves it.
 */
export class ConcurrentUpdateError extends DomainError {
  readonly code = 'concurrent_update';
}

export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'unauthenticated';
  constructor(message = 'a valid bearer token is required') {
    super(message);
  }
}
