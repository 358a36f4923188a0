/** A clock tests move by hand: pass `clock.now` where a service takes a clock. */
export class TestClock {
  private time: number;

  constructor(start: number = Date.now()) {
    this.time = start;
  }

  readonly now = (): Date => new Date(this.time);

  /** The current time in epoch milliseconds. */
  at(): number {
    return this.time;
  }

  /** Moves the clock forward (or back) by milliseconds. */
  advance(ms: number): void {
    this.time += ms;
  }

  /** Moves the clock forward (or back) by days. */
  advanceDays(days: number): void {
    this.time += days * 86_400_000;
  }

  /** Sets the clock to an instant. */
  set(at: Date | number): void {
    this.time = typeof at === 'number' ? at : at.getTime();
  }
}
