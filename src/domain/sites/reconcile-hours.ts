/** A site's reconcile schedule: every hour at most, every 30 days at least; 0 switches it off. */
export const RECONCILE_EVERY_HOURS_MAX = 24 * 30;
