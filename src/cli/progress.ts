/** A one-line progress indicator on stderr, drawn only when stderr is a terminal so logs and pipes stay clean. */
export class Progress {
  private last = 0;
  private readonly enabled = Boolean(process.stderr.isTTY);

  constructor(private readonly label: string, private readonly total?: number) {}

  /** Redraws at most ten times a second. */
  update(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    process.stderr.write(`\r${this.render(done)}`);
  }

  /** Draws the final state and ends the line. */
  finish(done: number): void {
    if (this.enabled) process.stderr.write(`\r${this.render(done)}\n`);
  }

  private render(done: number): string {
    if (!this.total) return `${this.label}: ${done.toLocaleString('en-US')}`;
    const ratio = Math.min(1, done / this.total);
    const width = 30;
    const filled = Math.round(ratio * width);
    return `${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(ratio * 100)}% ${done}/${this.total}`;
  }
}
