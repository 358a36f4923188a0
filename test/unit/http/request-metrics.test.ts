import { expect } from 'chai';
import { Counter, Histogram, Registry } from 'prom-client';
import { RequestMetrics } from '../../../src/http/metrics.js';
import { prng } from '../../support/prng.js';

describe('RequestMetrics', () => {
  it('exposes exactly what prom-client\'s own Counter and Histogram would for the same requests', async () => {
    const ours = new Registry();
    const metrics = new RequestMetrics(ours);
    const reference = new Registry();
    const counter = new Counter({ name: 'iam_http_requests_total', help: 'HTTP requests by method, route pattern and status', labelNames: ['method', 'route', 'status'] as const, registers: [reference] });
    const histogram = new Histogram({
      name: 'iam_http_request_duration_seconds', help: 'HTTP request latency by method and route pattern', labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [reference],
    });
    const random = prng(7);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    // Latencies on and around the bucket bounds, and beyond the last one.
    const latencies = [0, 0.0005, 0.001, 0.0010001, 0.0025, 0.007, 0.05, 0.3, 1, 2.5, 4.99, 5, 7.5];
    for (let i = 0; i < 5000; i++) {
      const method = pick(['GET', 'POST', 'DELETE']);
      const route = pick(['/api/v1/authz/check', '/scim/v2/Users/:id', 'unmatched']);
      const status = pick([200, 201, 400, 404, 500]);
      const seconds = pick(latencies);
      metrics.observe(method, route, status, seconds);
      counter.inc({ method, route, status: String(status) });
      histogram.observe({ method, route }, seconds);
    }
    const sorted = (text: string) => text.split('\n').filter(Boolean).sort();
    const got = sorted(await ours.metrics());
    expect(got.length).to.be.greaterThan(9 * 15);
    expect(got).to.deep.equal(sorted(await reference.metrics()));
    // The JSON form agrees too.
    expect(JSON.parse(JSON.stringify(await ours.getMetricsAsJSON())).map((m: { name: string; type: string }) => [m.name, m.type]))
      .to.deep.equal([['iam_http_requests_total', 'counter'], ['iam_http_request_duration_seconds', 'histogram']]);
  });

  it('starts again from nothing when the registry resets its metrics', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry);
    metrics.observe('GET', '/api/v1/roles', 200, 0.002);
    expect(await registry.metrics()).to.include('iam_http_requests_total{method="GET",route="/api/v1/roles",status="200"} 1');
    registry.resetMetrics();
    expect(await registry.metrics()).not.to.include('route="/api/v1/roles"');
  });
});
