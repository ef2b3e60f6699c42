/**
 * The range of Site.graceDays: days of access a member keeps after a failed payment while the charge is retried.
 * Defined once so that the API, the settings form and the OpenAPI document state the same bounds.
 */
export const GRACE_DAYS_MIN = 0;
export const GRACE_DAYS_MAX = 90;
