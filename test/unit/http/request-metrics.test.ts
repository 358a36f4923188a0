import { expect } from 'chai';
import { Registry } from 'prom-client';
import { RequestMetrics } from '../../../src/http/metrics.js';

/** The value of one exposition line, or undefined when the line is absent. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('RequestMetrics', () => {
  it('shows every finished request at the next scrape, within a batch and across batches', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(registry);
    // Fewer than one batch: nothing handed over yet, and still all of it in the scrape.
    for (let i = 0; i < 3; i++) metrics.observe('GET', '/api/v1/roles', 200, 0.002);
    let text = await registry.metrics();
    expect(sample(text, 'iam_http_requests_total{method="GET",route="/api/v1/roles",status="200"}')).to.equal(3);
    // Several batches' worth, two routes and two statuses interleaved.
    for (let i = 0; i < 1000; i++) {
      metrics.observe('POST', '/api/v1/authz/check', i % 10 === 0 ? 400 : 200, i % 2 === 0 ? 0.0005 : 0.02);
      if (i % 4 === 0) metrics.observe('GET', '/api/v1/roles', 200, 0.002);
    }
    text = await registry.metrics();
    expect(sample(text, 'iam_http_requests_total{method="GET",route="/api/v1/roles",status="200"}')).to.equal(253);
    expect(sample(text, 'iam_http_requests_total{method="POST",route="/api/v1/authz/check",status="200"}')).to.equal(900);
    expect(sample(text, 'iam_http_requests_total{method="POST",route="/api/v1/authz/check",status="400"}')).to.equal(100);
    expect(sample(text, 'iam_http_request_duration_seconds_count{method="POST",route="/api/v1/authz/check"}')).to.equal(1000);
    expect(sample(text, 'iam_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/api/v1/authz/check"}')).to.equal(500);
    expect(sample(text, 'iam_http_request_duration_seconds_bucket{le="0.025",method="POST",route="/api/v1/authz/check"}')).to.equal(1000);
    expect(sample(text, 'iam_http_request_duration_seconds_sum{method="POST",route="/api/v1/authz/check"}')).to.be.closeTo(500 * 0.0005 + 500 * 0.02, 1e-9);
    // A scrape hands over only once: the next one sees the same counts.
    expect(sample(await registry.metrics(), 'iam_http_requests_total{method="GET",route="/api/v1/roles",status="200"}')).to.equal(253);
  });
});
