/** Prometheus metrics, in a registry of their own (no global state). */
import type { MetricObjectWithValues, MetricValue, MetricValueWithName } from 'prom-client';
import { AggregatorRegistry, Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** One route's request counts and latency histogram, as plain numbers. */
export class RouteStats {
  /** Requests by method, then status. */
  readonly counts = new Map<string, Map<number, number>>();
  /** Observations per bucket of LATENCY_BUCKETS (not cumulative); above the last bucket: only in count. */
  readonly buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  sum = 0;
  count = 0;

  constructor(readonly route: string) {}

  record(method: string, status: number, seconds: number): void {
    let byStatus = this.counts.get(method);
    if (!byStatus) {
      byStatus = new Map();
      this.counts.set(method, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        this.buckets[i]!++;
        break;
      }
    }
    this.sum += seconds;
    this.count++;
  }
}

/**
 * Per-request HTTP metrics, recorded into plain counters (no label hashing on the request path) and
 * handed to prom-client only when /metrics is scraped.
 */
export class HttpStats {
  private readonly routes = new Map<string, RouteStats>();

  /** The stats of a route; callers on hot paths keep the result. */
  route(route: string): RouteStats {
    let r = this.routes.get(route);
    if (!r) {
      r = new RouteStats(route);
      this.routes.set(route, r);
    }
    return r;
  }

  all(): IterableIterator<RouteStats> {
    return this.routes.values();
  }
}

const LATENCY = 'quarry_http_request_duration_seconds';
/** What prom-client's registry reads from a metric (its `type` is a string at run time). */
interface Exported {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: MetricValueWithName<string>[];
}

/**
 * quarry_http_request_duration_seconds, read from HttpStats at scrape time: the values prom-client's
 * own Histogram exports (cumulative `_bucket` with `le`, then `_sum` and `_count`), built from the
 * plain counters. The registry formats a metric through getForPromString when it has one.
 */
class LatencyHistogram extends Histogram<'route'> {
  constructor(
    registry: Registry,
    private readonly stats: HttpStats,
  ) {
    super({
      name: LATENCY,
      help: 'HTTP request latency by route',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<'route'>>> {
    return (await this.getForPromString()) as unknown as MetricObjectWithValues<MetricValueWithName<'route'>>;
  }

  async getForPromString(): Promise<Exported> {
    const values: MetricValueWithName<string>[] = [];
    for (const r of this.stats.all()) {
      const route = r.route;
      let acc = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        acc += r.buckets[i]!;
        values.push({ labels: { le, route }, value: acc, metricName: `${LATENCY}_bucket` });
      });
      values.push({ labels: { le: '+Inf', route }, value: r.count, metricName: `${LATENCY}_bucket` });
      values.push({ labels: { route }, value: r.sum, metricName: `${LATENCY}_sum` });
      values.push({ labels: { route }, value: r.count, metricName: `${LATENCY}_count` });
    }
    return {
      name: LATENCY,
      help: 'HTTP request latency by route',
      type: 'histogram',
      aggregator: 'sum',
      values,
    };
  }
}

/** quarry_http_requests_total, read from HttpStats at scrape time. */
const requestsCounter = (registry: Registry, stats: HttpStats) =>
  new Counter({
    name: 'quarry_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of stats.all()) {
        for (const [method, byStatus] of r.counts)
          for (const [status, n] of byStatus) this.inc({ route: r.route, method, status: String(status) }, n);
      }
    },
  });

/** One process's metrics as data (prom-client's getMetricsAsJSON): what a worker sends its primary. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** What GET /metrics answers. */
export interface Scrape {
  contentType: string;
  body: string;
}

/**
 * The metrics of several processes as one exposition: each metric combined by its aggregator
 * (counters and histograms summed, default process gauges summed or averaged as prom-client marks
 * them), plus quarry_cluster_workers, how many processes reported.
 */
export async function aggregateMetrics(snapshots: readonly MetricsSnapshot[]): Promise<Scrape> {
  // The shape getMetricsAsJSON gives a gauge (its `type` is a string at run time).
  const workers = {
    name: 'quarry_cluster_workers',
    help: 'Server processes whose metrics this answer sums',
    type: 'gauge',
    aggregator: 'first',
    values: [{ value: snapshots.length, labels: {} }],
  } as unknown as MetricObjectWithValues<MetricValue<string>>;
  const registry = AggregatorRegistry.aggregate([...snapshots, [workers]]);
  return { contentType: registry.contentType, body: await registry.metrics() };
}

export class Metrics {
  readonly registry = new Registry();
  /** Set under --workers N: /metrics then asks the primary for every worker's metrics. */
  private scraper: (() => Promise<Scrape>) | null = null;
  /** Every HTTP request, by route: recorded by the Fastify hook and by the fast read path. */
  readonly http = new HttpStats();
  readonly requests = requestsCounter(this.registry, this.http);
  readonly latency: Histogram<'route'> = new LatencyHistogram(this.registry, this.http);
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

  /** Upstream (proxy) cache events by upstream: hit, miss, revalidated, stale, error, not_found, tampered. */
  readonly upstream = new Counter({
    name: 'quarry_upstream_events_total',
    help: 'Caching proxy events per upstream: cache hits, misses, revalidations, stale answers, errors, 404s, tampered gems',
    labelNames: ['upstream', 'event'] as const,
    registers: [this.registry],
  });
  readonly upstreamLatency = new Histogram({
    name: 'quarry_upstream_request_duration_seconds',
    help: 'Latency of requests to upstreams (fetches and revalidations)',
    labelNames: ['upstream'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'quarry_' });
  }

  /** This process's metrics, as data. */
  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON();
  }

  /** What /metrics answers: the whole server's metrics (this process's, unless a scraper is set). */
  async scrape(): Promise<Scrape> {
    if (this.scraper) return this.scraper();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Makes scrape() answer with what `scraper` gathers (the metrics of every worker of a cluster). */
  useScraper(scraper: () => Promise<Scrape>): void {
    this.scraper = scraper;
  }
}
