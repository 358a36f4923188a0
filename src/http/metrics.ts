import { Registry, collectDefaultMetrics } from 'prom-client';

/** The server's Prometheus registry; later modules (outbox, jobs) register their figures here. */
export interface HttpMetrics {
  registry: Registry;
  /** counts a request and its latency under its route pattern */
  requests: RequestMetrics;
}

/** Creates a registry with process metrics and per-route request counts and latencies. */
export function createMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'iam_' });
  return { registry, requests: new RequestMetrics(registry) };
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** One route's figures: requests by status, and its latency histogram. */
interface RouteSeries {
  readonly method: string;
  readonly route: string;
  readonly byStatus: Map<number, number>;
  /** requests per latency bucket (not cumulative); the last one is above every bound */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** One line of a metric as prom-client's Registry prints it. */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  /** the line's name when it is not the metric's (a histogram's _bucket, _sum and _count) */
  metricName?: string;
}

/**
 * Registers with `registry` a metric whose lines `values` gives at each scrape. The registry reads
 * a metric's name, help, type, get() and reset() only; its own type names prom-client's classes.
 */
function registerMetric(registry: Registry, name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[], reset: () => void): void {
  const metric = { name, help, type, get: async () => ({ name, help, type, aggregator: 'sum' as const, values: values() }), reset };
  registry.registerMetric(metric as never);
}

/**
 * iam_http_requests_total and iam_http_request_duration_seconds, counted here and read by
 * prom-client's registry as two of its metrics. prom-client's own Counter and Histogram validate
 * and hash the labels on every call: about 3 µs a request on a server whose caches are busy with
 * other work, a tenth of an access check. Here a request costs two map lookups on strings that
 * are the same objects every time (the method and the route pattern) and a few additions; the
 * text a scrape gets is the same, line for line (a test compares it with prom-client's).
 */
export class RequestMetrics {
  /** method → route pattern → figures */
  private readonly series = new Map<string, Map<string, RouteSeries>>();

  constructor(registry: Registry) {
    const all = () => [...this.series.values()].flatMap((byRoute) => [...byRoute.values()]);
    const reset = () => this.series.clear();
    registerMetric(registry, 'iam_http_requests_total', 'HTTP requests by method, route pattern and status', 'counter',
      () => all().flatMap((s) => [...s.byStatus].map(([status, value]) => ({ labels: { method: s.method, route: s.route, status }, value }))),
      reset);
    const duration = 'iam_http_request_duration_seconds';
    registerMetric(registry, duration, 'HTTP request latency by method and route pattern', 'histogram',
      () => all().flatMap((s) => {
        const labels = { method: s.method, route: s.route };
        let below = 0;
        return [
          ...LATENCY_BUCKETS.map((le, i) => ({ labels: { le, ...labels }, value: (below += s.buckets[i]!), metricName: `${duration}_bucket` })),
          { labels: { le: '+Inf', ...labels }, value: s.count, metricName: `${duration}_bucket` },
          { labels, value: s.sum, metricName: `${duration}_sum` },
          { labels, value: s.count, metricName: `${duration}_count` },
        ];
      }),
      reset);
  }

  /** Counts one finished request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    let byRoute = this.series.get(method);
    if (byRoute === undefined) this.series.set(method, (byRoute = new Map()));
    let series = byRoute.get(route);
    if (series === undefined) {
      series = { method, route, byStatus: new Map(), buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
      byRoute.set(route, series);
    }
    series.byStatus.set(status, (series.byStatus.get(status) ?? 0) + 1);
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]!) bucket++;
    series.buckets[bucket]!++;
    series.sum += seconds;
    series.count++;
  }
}

/**
 * Wraps a function that registers metrics so it runs once per registry: prom-client refuses a
 * name registered twice, and several services (workers, mailers, schedulers) share the server's
 * registry. Later callers get what the first one made.
 */
export function oncePerRegistry<A extends unknown[], T>(make: (registry: Registry, ...args: A) => T): (registry: Registry, ...args: A) => T {
  const made = new WeakMap<Registry, T>();
  return (registry, ...args) => {
    let value = made.get(registry);
    if (value === undefined) {
      value = make(registry, ...args);
      made.set(registry, value);
    }
    return value;
  };
}
