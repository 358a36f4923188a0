/** Latency summary in milliseconds. */
export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

/** p50/p99/mean of a list of millisecond samples. */
export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const round = (v: number) => Math.round(v * 100) / 100;
  return { n: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), mean: round(sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1)) };
}

/** Runs `task(i)` for i in [0, total) with `concurrency` workers; returns per-call latencies (ms) and the wall time (s). */
export async function runConcurrent(total: number, concurrency: number, task: (i: number) => Promise<void>, onProgress?: (done: number) => void): Promise<{ latencies: number[]; seconds: number }> {
  const latencies = new Array<number>(total);
  let next = 0;
  let done = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const t0 = performance.now();
      await task(i);
      latencies[i] = performance.now() - t0;
      if (++done % 1000 === 0) onProgress?.(done);
    }
  }));
  return { latencies, seconds: (performance.now() - started) / 1000 };
}
