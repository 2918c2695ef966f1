/**
 * Shared by the catalog conformance suite and its worker processes: synthetic versions, the write
 * plans the concurrency cases run, a /versions log reader, and a line protocol (JSON with dates)
 * that lets a child process act on the same catalog as the test process.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { infoMd5For } from '../../src/catalog/derive.ts';
import type {
  Catalog,
  NewVersion,
  PushOutcome,
  VersionsBase,
  VersionsLogRow,
  YankOutcome,
} from '../../src/catalog/types.ts';
import { QuarryError } from '../../src/errors.ts';
import { normalizePlatform } from '../../src/gem/platform.ts';
import type { GemSpec } from '../../src/gem/spec.ts';
import { canonicalVersion, isPrerelease } from '../../src/gem/version.ts';
import type { InfoOptions } from '../../src/index/compact.ts';

/** How every catalog in these tests writes /info (its MD5 goes into the log). */
export const INFO: InfoOptions = {};

export const sha256Of = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A small but complete GemSpec: a runtime and a development dependency, a Ruby requirement. */
export function specOf(name: string, number: string, platform = 'ruby'): GemSpec {
  return {
    name,
    version: number,
    platform,
    summary: `${name} for tests`,
    description: null,
    authors: ['Quarry'],
    email: [null, 'q@example.com'],
    homepage: 'https://example.com',
    licenses: ['MIT'],
    metadata: { source_code_uri: `https://example.com/${name}` },
    date: new Date('2024-01-02T00:00:00Z'),
    dependencies: [
      { name: 'rake', requirement: [{ op: '>=', version: '12.0' }], type: 'runtime', prerelease: false },
      {
        name: 'minitest',
        requirement: [{ op: '~>', version: '5.0' }],
        type: 'development',
        prerelease: false,
      },
    ],
    requiredRubyVersion: [{ op: '>=', version: '2.7' }],
    requiredRubygemsVersion: [{ op: '>=', version: '0' }],
    rubygemsVersion: '3.5.0',
    specificationVersion: 4,
    bindir: 'bin',
    executables: [],
    extensions: [],
    requirePaths: ['lib'],
    postInstallMessage: null,
    certChain: [],
  };
}

export interface VersionOptions {
  platform?: string;
  /** Other bytes for the same (name, number, platform): another sha256. */
  variant?: string;
  createdAt?: string;
  pushedBy?: number | null;
}

/** The sha256 a pushed (name, number, platform, variant) has in these tests. */
export const shaFor = (name: string, number: string, platform = 'ruby', variant = ''): string =>
  sha256Of(`${name}\0${number}\0${platform}\0${variant}`);

export function newVersion(name: string, number: string, o: VersionOptions = {}): NewVersion {
  const platform = o.platform ?? 'ruby';
  return {
    name,
    number,
    platform,
    gemPlatform: normalizePlatform(platform),
    canonical: canonicalVersion(number),
    prerelease: isPrerelease(number),
    sha256: shaFor(name, number, platform, o.variant),
    size: 1000 + name.length + number.length,
    spec: specOf(name, number, platform),
    createdAt: o.createdAt ?? '2024-03-04T05:06:07Z',
    pushedBy: o.pushedBy ?? null,
  };
}

/** What a client's /versions shows for a gem: its live tokens and the MD5 of the last line. */
export interface ReplayedGem {
  tokens: Set<string>;
  infoMd5: string;
}

/**
 * Replays a /versions file as Bundler reads it: the base lines, then the log rows after the base;
 * a `-VERSION` token removes, any other adds, and the last line of a name gives its MD5.
 */
export function replayVersions(baseBody: string, log: readonly VersionsLogRow[]): Map<string, ReplayedGem> {
  const out = new Map<string, ReplayedGem>();
  const apply = (name: string, tokens: string, md5: string) => {
    const g = out.get(name) ?? { tokens: new Set<string>(), infoMd5: '' };
    for (const t of tokens.split(',')) {
      if (t.startsWith('-')) g.tokens.delete(t.slice(1));
      else g.tokens.add(t);
    }
    g.infoMd5 = md5;
    out.set(name, g);
  };
  const at = baseBody.indexOf('\n---\n');
  if (at < 0) throw new Error(`not a /versions body: ${JSON.stringify(baseBody.slice(0, 80))}`);
  for (const line of baseBody.slice(at + 5).split('\n')) {
    if (line === '') continue;
    const [name, tokens, md5, ...rest] = line.split(' ');
    if (!name || tokens === undefined || !md5 || rest.length > 0) throw new Error(`bad base line ${line}`);
    apply(name, tokens, md5);
  }
  for (const row of log) apply(row.name, row.tokens, row.infoMd5);
  return out;
}

/** The live tokens and /info MD5 the catalog has now for a gem (what /versions must end with). */
export async function currentGem(c: Catalog, name: string): Promise<ReplayedGem> {
  const live = await c.liveVersions(name);
  return {
    tokens: new Set(live.map((v) => (v.platform === 'ruby' ? v.number : `${v.number}-${v.platform}`))),
    infoMd5: infoMd5For(live, INFO),
  };
}

// ---------------------------------------------------------------------------------------------
// Write plans for the concurrency cases.

/** A write on one version. */
export type VersionOp =
  | { kind: 'push'; name: string; number: string; platform: string; variant: string }
  | { kind: 'yank'; name: string; number: string; platform: string }
  | { kind: 'unyank'; name: string; number: string; platform: string };

export type Op = VersionOp | { kind: 'rebuild'; at: string };

export interface OpResult {
  agent: number;
  op: Op;
  /** The outcome kind, or 'error' */
  kind: string;
  /** sha256 of the outcome's record, when it has one. */
  sha256?: string;
  /** case_conflict: the owner's name and whether it was live. */
  owner?: string;
  live?: boolean;
  /** canonical_conflict: the conflicting record's number. */
  number?: string;
  error?: WireError;
}

export const opKey = (name: string, number: string, platform: string): string =>
  `${name}\0${number}\0${platform}`;

/** Runs ops with `limit` of them in flight; never throws (an error is a result). */
export async function runPlan(
  c: Catalog,
  agent: number,
  ops: readonly Op[],
  limit: number,
): Promise<OpResult[]> {
  const results: OpResult[] = new Array(ops.length);
  let next = 0;
  const one = async (op: Op): Promise<OpResult> => {
    try {
      if (op.kind === 'rebuild') {
        await c.rebuildVersionsList(new Date(op.at));
        return { agent, op, kind: 'done' };
      }
      if (op.kind === 'push') {
        const v = newVersion(op.name, op.number, { platform: op.platform, variant: op.variant });
        return pushResult(agent, op, await c.recordPush(v));
      }
      const o: YankOutcome =
        op.kind === 'yank'
          ? await c.recordYank(op.name, op.number, op.platform, '2024-05-06T07:08:09Z')
          : await c.recordUnyank(op.name, op.number, op.platform);
      return { agent, op, kind: o.kind, ...('record' in o ? { sha256: o.record.sha256 } : {}) };
    } catch (e) {
      return { agent, op, kind: 'error', error: toWireError(e) };
    }
  };
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < ops.length) {
        const i = next++;
        results[i] = await one(ops[i]!);
      }
    }),
  );
  return results;
}

function pushResult(agent: number, op: VersionOp, o: PushOutcome): OpResult {
  if (o.kind === 'case_conflict') return { agent, op, kind: o.kind, owner: o.owner, live: o.live };
  if (o.kind === 'canonical_conflict')
    return { agent, op, kind: o.kind, sha256: o.record.sha256, number: o.record.number };
  return { agent, op, kind: o.kind, sha256: o.record.sha256 };
}

/** A seeded PRNG (mulberry32), so a failing plan can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Plan {
  /** One op list per agent. */
  agents: Op[][];
  /** The version writes (rebuilds aside). */
  writes: number;
  /** The created_at of each rebuild. */
  rebuilds: string[];
}

/**
 * 200 writes over `agents` writers: distinct gems, identical re-pushes of the same versions by
 * every writer, many versions (and platforms) of one gem at once, a sha256 conflict, a canonical
 * conflict (2.0 and 2.0.0), a letter-case conflict, and yanks and unyanks racing the pushes;
 * plus three rebuilds of the /versions base among them.
 */
export function concurrencyPlan(seed: number, agents = 4): Plan {
  const rnd = prng(seed);
  const solo: Op[] = [];
  const push = (name: string, number: string, platform = 'ruby', variant = ''): Op => ({
    kind: 'push',
    name,
    number,
    platform,
    variant,
  });
  for (let i = 0; i < 70; i++) solo.push(push(`gem-${i}`, '1.0'));
  for (let i = 0; i < 30; i++) solo.push(push('multi', `1.${i}`));
  for (let i = 0; i < 10; i++) solo.push(push('multi', `1.${i}`, i % 2 === 0 ? 'java' : 'x86_64-linux'));
  for (let i = 0; i < 20; i++) solo.push({ kind: 'yank', name: 'multi', number: `1.${i}`, platform: 'ruby' });
  for (let i = 0; i < 20; i++) solo.push({ kind: 'yank', name: `gem-${i}`, number: '1.0', platform: 'ruby' });
  for (let i = 0; i < 12; i++)
    solo.push({ kind: 'unyank', name: 'multi', number: `1.${i}`, platform: 'ruby' });
  // Conflicts, each side from another writer.
  const pairs: [Op, Op][] = [
    [push('conflict', '1.0', 'ruby', 'a'), push('conflict', '1.0', 'ruby', 'b')],
    [push('canon', '2.0'), push('canon', '2.0.0')],
    [push('Case', '1.0'), push('case', '1.0')],
  ];
  // The same version from every writer (32 writes with 4 writers).
  const same: Op[] = Array.from({ length: 8 }, (_, i) => push(`same-${i}`, '3.0'));

  const rebuilds = [1, 2, 3].map((d) => `2024-02-0${d}T00:00:00Z`);

  const lists: Op[][] = Array.from({ length: agents }, () => []);
  const shuffled = shuffle(solo, rnd);
  for (const [i, op] of shuffled.entries()) lists[i % agents]!.push(op);
  pairs.forEach(([a, b], i) => {
    lists[i % agents]!.push(a);
    lists[(i + 1) % agents]!.push(b);
  });
  for (const list of lists) list.push(...same);
  const out = lists.map((l) => shuffle(l, rnd));
  // Rebuilds in the middle of the first writers' lists.
  for (const [i, at] of rebuilds.entries()) {
    const l = out[i % agents]!;
    l.splice(Math.floor(l.length / 2), 0, { kind: 'rebuild', at });
  }
  return { agents: out, writes: out.reduce((n, l) => n + l.length, 0) - rebuilds.length, rebuilds };
}

function shuffle<T>(xs: readonly T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// A reader that polls the log during writes.

export interface ReaderReport {
  rows: VersionsLogRow[];
  /** Every distinct /versions base seen, in the order seen. */
  bases: VersionsBase[];
  polls: number;
  /** Polls that returned at least one row. */
  nonEmpty: number;
  /** Messages about order violations seen while polling. */
  violations: string[];
}

/** Polls versionsLogSince(last seen seq) until stopped, then polls once more. */
export function startReader(c: Catalog): { stop(): Promise<ReaderReport> } {
  const report: ReaderReport = { rows: [], bases: [], polls: 0, nonEmpty: 0, violations: [] };
  let last = 0;
  let stopping = false;
  const poll = async () => {
    const [rows, base] = await Promise.all([c.versionsLogSince(last), c.versionsBase()]);
    const prev = report.bases.at(-1);
    if (base && (base.baseSeq !== prev?.baseSeq || base.createdAt !== prev.createdAt))
      report.bases.push(base);
    report.polls++;
    if (rows.length > 0) report.nonEmpty++;
    for (const r of rows) {
      if (typeof r.seq !== 'number') report.violations.push(`seq ${String(r.seq)} is a ${typeof r.seq}`);
      if (!(r.seq > last)) report.violations.push(`seq ${r.seq} after ${last}`);
      last = r.seq;
      report.rows.push(r);
    }
  };
  const loop = (async () => {
    while (!stopping) {
      await poll();
      await sleep(1);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      await poll();
      return report;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The line protocol between the test process and a worker: JSON, with Dates tagged.

export interface WireError {
  name: string;
  code?: string;
  message: string;
  /** The stack in the worker, for diagnostics. */
  stack?: string;
}

export function toWireError(e: unknown): WireError {
  const err = e as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof err?.name === 'string' ? err.name : 'Error',
    ...(typeof err?.code === 'string' ? { code: err.code } : {}),
    message: typeof err?.message === 'string' ? err.message : String(e),
    ...(e instanceof Error && e.stack ? { stack: e.stack } : {}),
  };
}

export function fromWireError(w: WireError): Error {
  const e =
    w.name === 'QuarryError'
      ? new QuarryError(w.code as QuarryError['code'], w.message)
      : Object.assign(new Error(w.message), { name: w.name, code: w.code });
  if (w.stack)
    e.stack = `${w.stack}\n    --- in the worker process; here:\n${e.stack?.split('\n').slice(1).join('\n')}`;
  return e;
}

export function encode(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    if (raw instanceof Date) return { $date: raw.toISOString() };
    if (raw instanceof Map) return { $map: [...raw] };
    return v;
  });
}

export function decode(line: string): unknown {
  return JSON.parse(line, (_k, v) => {
    if (v === null || typeof v !== 'object' || Object.keys(v).length !== 1) return v;
    if (typeof v.$date === 'string') return new Date(v.$date);
    if (Array.isArray(v.$map)) return new Map(v.$map);
    return v;
  });
}

/** Requests the worker answers, one JSON line each: `{ id, ...request }` -> `{ id, ok, value | error }`. */
export type Request =
  | { op: 'open'; url: string }
  | { op: 'call'; handle: number; method: string; args: unknown[] }
  | { op: 'close'; handle: number }
  | { op: 'run'; handle: number; agent: number; ops: Op[]; limit: number }
  | { op: 'startReader'; handle: number }
  | { op: 'stopReader'; handle: number };
