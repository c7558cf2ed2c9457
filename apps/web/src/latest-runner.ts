/**
 * Runs an async task for the latest value only: calls are debounced, and while one run is in flight
 * later values wait, the newest replacing older ones, so search-as-you-type never queues stale queries
 * on a slow GPU and never shows an older query's results after a newer one's.
 *
 * @example
 * const search = new LatestRunner<string>(150, async (q) => render(await find(q)));
 * input.oninput = () => search.push(input.value);
 */
export class LatestRunner<T> {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  private pending: { value: T } | null = null;

  constructor(
    readonly delayMs: number,
    private readonly task: (value: T) => Promise<void>,
    /** Gets a failed run's error; later values still run. */
    private readonly onError: (e: unknown) => void = (e) => console.error(e),
  ) {}

  /** Schedules `value`, replacing any value not started yet. */
  push(value: T): void {
    this.pending = { value };
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain();
    }, this.delayMs);
  }

  /** Resolves when nothing is scheduled or running. */
  async idle(): Promise<void> {
    while (this.running || this.timer !== null) {
      if (this.running) await this.running;
      else await new Promise((r) => setTimeout(r, this.delayMs));
    }
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    const run = async () => {
      while (this.pending) {
        const { value } = this.pending;
        this.pending = null;
        try {
          await this.task(value);
        } catch (e) {
          this.onError(e);
        }
      }
    };
    this.running = run().finally(() => {
      this.running = null;
    });
    await this.running;
  }
}
