import type { Clock } from '../../src/domain/ports';

/** A clock the test moves by hand; starts at a fixed instant so results do not depend on when tests run. */
export class FixedClock implements Clock {
  private current: number;
  constructor(start = '2025-07-01T12:00:00.000Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  set(iso: string): void {
    this.current = new Date(iso).getTime();
  }
  advanceMs(ms: number): void {
    this.current += ms;
  }
  advanceDays(days: number): void {
    this.advanceMs(days * 24 * 60 * 60 * 1000);
  }
}
