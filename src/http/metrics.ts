import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's Prometheus registry; later modules (outbox, jobs) register their figures here. */
export interface HttpMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
}

/** Creates a registry with process metrics and per-route request counts and latencies. */
export function createMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'iam_' });
  const requests = new Counter({
    name: 'iam_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'iam_http_request_duration_seconds',
    help: 'HTTP request latency by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, requests, duration };
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
