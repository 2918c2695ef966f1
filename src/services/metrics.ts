/** Prometheus metrics, in a registry of their own (no global state). */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'quarry_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'quarry_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'quarry_pushes_total',
    help: 'Gem pushes by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly yanks = new Counter({
    name: 'quarry_yanks_total',
    help: 'Gem yanks by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly indexUpdate = new Histogram({
    name: 'quarry_index_update_seconds',
    help: 'Time to commit a push or yank including its index update',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'quarry_' });
  }
}
