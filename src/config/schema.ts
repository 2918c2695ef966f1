/**
 * The configuration schema: one place that lists every key, its default and its check.
 * docs/configuration.md documents the same keys; test/config keeps the two in sync.
 */
import { z } from 'zod';
import { parseStorageUrl } from '../blobs/from-url.ts';
import { parseCatalogUrl } from '../catalog/open.ts';

const port = z.number().int().min(0).max(65535);
const bytes = z.number().int().positive();

export const configSchema = z
  .object({
    /** Interface to listen on. */
    host: z.string().min(1).default('0.0.0.0'),
    /** TCP port to listen on. */
    port: port.default(9292),
    /** Server processes sharing the port (node:cluster); each keeps its own caches. */
    workers: z.number().int().min(1).max(64).default(1),
    /** Answer plain keep-alive reads on the socket, below node:http (src/http/wire.ts); false: all through node:http. */
    wire: z.boolean().default(true),
    /** Data directory: the SQLite catalog and, with the default storage, the gem files. */
    data: z.string().min(1).default('./quarry-data'),
    /** The catalog: null for sqlite:<data>/catalog.sqlite3, sqlite:PATH, or postgres://USER[:PASSWORD]@HOST:PORT/DB (PG* environment variables fill in what the URL leaves out). */
    catalog: z
      .string()
      .min(1)
      .superRefine((url, ctx) => {
        try {
          parseCatalogUrl(url);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      })
      .nullable()
      .default(null),
    /** Where the gem files are kept: null for <data>/blobs, a folder (path or file:///), memory:, or s3://BUCKET[/PREFIX]. */
    storage: z
      .string()
      .min(1)
      .superRefine((url, ctx) => {
        try {
          parseStorageUrl(url);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      })
      .nullable()
      .default(null),
    /** Settings of s3:// storage; credentials come from the AWS SDK's chain (AWS_* environment, profile, role). */
    s3: z
      .object({
        /** AWS region; null: the SDK's (AWS_REGION, the profile), or us-east-1 with an endpoint. */
        region: z.string().min(1).nullable().default(null),
        /** Base URL of an S3-compatible store (MinIO, R2, Ceph); null for AWS. */
        endpoint: z
          .url({ protocol: /^https?$/ })
          .nullable()
          .default(null),
        /** Address buckets in the path (host/bucket/key) rather than the host name; most self-hosted stores need it. */
        force_path_style: z.boolean().default(false),
      })
      .strict()
      .default({ region: null, endpoint: null, force_path_style: false }),
    /**
     * Upstream gem sources this server proxies and caches (the first is the default at `/`);
     * an empty list serves hosted gems alone.
     */
    upstreams: z
      .array(
        z
          .object({
            /** A short name: in /upstream/NAME/, metrics and blob keys. */
            name: z
              .string()
              .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be a short lower-case name (a-z, 0-9, _ and -)'),
            /** Base URL of the source; user:password@ in it, or BUNDLE_<HOST> in the environment, for credentials. */
            url: z.url({ protocol: /^https?$/ }),
            /** Deadline of each upstream request, in milliseconds. */
            timeout_ms: z.number().int().positive().default(10_000),
            /** How long fetched index data counts as fresh, in milliseconds. */
            max_age_ms: z.number().int().min(0).default(60_000),
            /** After repeated failures, do not ask again for this long, in milliseconds. */
            fail_timeout_ms: z.number().int().min(0).default(30_000),
            /** Gem-name globs (`acme-*`) never asked of this upstream. */
            exclude: z
              .array(z.string().regex(/^[A-Za-z0-9._*-]+$/, 'a glob of letters, digits, . _ - and *'))
              .default([]),
            /** Verify the upstream's TLS certificate. */
            tls_verify: z.boolean().default(true),
          })
          .strict(),
      )
      .default([
        {
          name: 'rubygems',
          url: 'https://rubygems.org',
          timeout_ms: 10_000,
          max_age_ms: 60_000,
          fail_timeout_ms: 30_000,
          exclude: [],
          tls_verify: true,
        },
      ])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        for (const u of list) {
          if (seen.has(u.name))
            ctx.addIssue({ code: 'custom', message: `upstream name "${u.name}" is used twice` });
          seen.add(u.name);
        }
      }),
    /** What `quarry mirror` copies when it is given no gems or flags (its flags override these). */
    mirror: z
      .object({
        /** Gem names, each optionally followed by requirements: ["rails", ">= 7.1", "rack"]. */
        gems: z.array(z.string().min(1)).default([]),
        /** A Gemfile.lock whose gems to copy, at the locked versions. */
        lockfile: z.string().min(1).nullable().default(null),
        /** The whole upstream. */
        all: z.boolean().default(false),
        /** Only the newest N versions of each gem (0: all). */
        latest: z.number().int().min(0).default(0),
        /** Platforms to copy. */
        platforms: z.array(z.string().min(1)).default(['ruby']),
        /** Prerelease versions too. */
        pre: z.boolean().default(false),
        /** Gem-name globs never copied. */
        exclude: z.array(z.string().min(1)).default([]),
        /** Parallel downloads. */
        concurrency: z.number().int().min(1).max(256).default(8),
        /** Yank here what the upstream yanked. */
        sync_yanks: z.boolean().default(false),
        /** A folder to copy into (DIR/gems, then quarry index) instead of the catalog. */
        to: z.string().min(1).nullable().default(null),
      })
      .strict()
      .default({
        gems: [],
        lockfile: null,
        all: false,
        latest: 0,
        platforms: ['ruby'],
        pre: false,
        exclude: [],
        concurrency: 8,
        sync_yanks: false,
        to: null,
      }),
    /** Answer from the cache alone: never contact an upstream (503 for anything not cached). */
    offline: z.boolean().default(false),
    /** Public base URL used in JSON links; by default taken from each request's Host header. */
    base_url: z.url().nullable().default(null),
    auth: z
      .object({
        /** Require a key with the `read` scope (HTTP basic auth, as Bundler sends it) for every read. */
        protected_reads: z.boolean().default(false),
        /** Users who may create keys with `gem signin` (GET/POST /api/v1/api_key). */
        users: z
          .array(
            z
              .object({
                name: z.string().min(1),
                /** `scrypt$<salt hex>$<hash hex>`, as printed by `quarry users hash-password`. */
                password_hash: z
                  .string()
                  .regex(/^scrypt\$[0-9a-f]+\$[0-9a-f]+$/, 'must be scrypt$<salt>$<hash>'),
                /** Scopes of the keys this user may create. */
                scopes: z.array(z.enum(['push', 'yank', 'read'])).default(['push', 'yank', 'read']),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .default({ protected_reads: false, users: [] }),
    limits: z
      .object({
        /** Largest accepted request body (a pushed .gem), in bytes. */
        body_bytes: bytes.default(64 * 1024 * 1024),
        /** Requests that take longer are aborted, in milliseconds. */
        request_timeout_ms: z.number().int().positive().default(60_000),
        /** Failed key checks and sign-ins allowed per client address in auth_window_ms; then 429. 0: no limit. */
        auth_failures: z.number().int().min(0).default(20),
        /** The window of auth_failures, in milliseconds. */
        auth_window_ms: z.number().int().positive().default(60_000),
      })
      .strict()
      .default({
        body_bytes: 64 * 1024 * 1024,
        request_timeout_ms: 60_000,
        auth_failures: 20,
        auth_window_ms: 60_000,
      }),
    metrics: z
      .object({
        /** A bearer token for /metrics (Authorization: Bearer TOKEN); with auth.protected_reads, a read key works too. */
        token: z.string().min(16).nullable().default(null),
      })
      .strict()
      .default({ token: null }),
    index: z
      .object({
        /** Add the compact index v2 `created_at:` key to /info lines (Bundler's cooldown). */
        info_created_at: z.boolean().default(false),
        /** How often (ms) a node asks the catalog whether another node changed it; its own writes show at once. */
        refresh_ms: z.number().int().min(0).max(60_000).default(1000),
      })
      .strict()
      .default({ info_created_at: false, refresh_ms: 1000 }),
    downloads: z
      .object({
        /** How often (ms) a server process writes the .gem downloads it counted, in one catalog write; also at shutdown. */
        flush_ms: z.number().int().min(10).max(3_600_000).default(5000),
      })
      .strict()
      .default({ flush_ms: 5000 }),
    cache: z
      .object({
        /** Memory for .gem bodies served most often (content-addressed, never stale), in bytes; 0 turns it off. */
        gem_bytes: z
          .number()
          .int()
          .min(0)
          .default(128 * 1024 * 1024),
      })
      .strict()
      .default({ gem_bytes: 128 * 1024 * 1024 }),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    testing: z
      .object({
        /** Enables POST /set_time and POST /rebuild_versions_list for the conformance suite. Never in production. */
        hooks: z.boolean().default(false),
      })
      .strict()
      .default({ hooks: false }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
