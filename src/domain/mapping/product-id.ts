/**
 * What a product id may look like wherever one comes in (API bodies and paths, admin forms, event-log filters).
 * Kartra's are digits; letters, `_` and `-` are admitted as well, and the length is capped so an id fits a row key and
 * a URL path segment. Defined once so that an id one entry point accepts is never refused by another.
 */
export const PRODUCT_ID_MAX_LENGTH = 64;
export const PRODUCT_ID_PATTERN = new RegExp(`^[A-Za-z0-9_-]{1,${PRODUCT_ID_MAX_LENGTH}}$`);

export function isProductId(value: string): boolean {
  return PRODUCT_ID_PATTERN.test(value);
}
