/**
 * The hot read routes as data: each returns the whole response (an Answer) for a GET, so the fast
 * path in front of Fastify (fast-reads.ts) and the Fastify routes (app.ts) answer with the same
 * bytes. Bad input and failed authorization throw QuarryErrors (at once or as a rejection), mapped
 * by errors.ts. Answers from memory come back synchronously (see util/maybe.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/schema.ts';
import { QuarryError } from '../errors.ts';
import { isValidGemName } from '../gem/name.ts';
import { DEPENDENCY_API_MAX_NAMES, parseGemsParam } from '../index/dependencies.ts';
import type { GemBodies } from '../services/gem-bodies.ts';
import type { KeyService } from '../services/keys.ts';
import type { ReadIndex } from '../services/merged-index.ts';
import { parseBasicAuth } from '../services/users.ts';
import type { Maybe } from '../util/maybe.ts';
import { then } from '../util/maybe.ts';
import type { Answer, ServeOptions } from './representation.ts';
import { answerRepresentation, etagMatches, OCTET, TEXT, textAnswer } from './representation.ts';

export const INDEX_CACHE = 'public, max-age=60';
export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const LEGACY_FILES = [
  'specs.4.8',
  'specs.4.8.gz',
  'latest_specs.4.8',
  'latest_specs.4.8.gz',
  'prerelease_specs.4.8',
  'prerelease_specs.4.8.gz',
];

const COMPACT: ServeOptions = { contentType: TEXT, cacheControl: INDEX_CACHE, compact: true };
// Never Content-Encoding on .gz: clients gunzip these bytes themselves.
const LEGACY: ServeOptions = { contentType: OCTET, cacheControl: INDEX_CACHE, compact: false };
const EMPTY: Answer = {
  status: 200,
  headers: { 'content-type': OCTET, 'content-length': '0' },
  body: Buffer.alloc(0),
};

/** The raw key from `Authorization` (RubyGems sends it bare), or from HTTP basic auth (Bundler). */
export function keyFrom(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const basic = parseBasicAuth(authorization);
  if (basic) return basic.password || basic.name;
  return authorization.trim();
}

/** The immutable responses (quick specs, and .gem files with their ETag): cached forever. */
const immutable = (body: Buffer, etag?: string, cacheControl = IMMUTABLE): Answer => {
  const headers: Record<string, string> = { 'content-type': OCTET, 'cache-control': cacheControl };
  if (etag) headers['etag'] = etag;
  headers['content-length'] = String(body.length);
  return { status: 200, headers, body };
};

/** .gem answers by body: a body's bytes (and so its SHA-256 ETag) never change. */
const gemAnswers = new WeakMap<Buffer, Answer>();

export interface ReadDeps {
  config: Config;
  index: ReadIndex;
  /** Picks the index for a request (X-Gemfile-Source); by default `index`. */
  pick?: (h: IncomingHttpHeaders) => ReadIndex;
  gemBodies: GemBodies;
  keys: KeyService;
}

export class ReadRoutes {
  readonly protectedReads: boolean;

  /** With protected reads, caches between client and server must not keep answers: `private`. */
  private readonly compact: ServeOptions;
  private readonly legacyOptions: ServeOptions;
  private readonly forever: string;

  constructor(private readonly d: ReadDeps) {
    this.protectedReads = d.config.auth.protected_reads;
    const p = this.protectedReads;
    this.compact = p ? { ...COMPACT, cacheControl: 'private, max-age=60' } : COMPACT;
    this.legacyOptions = p ? { ...LEGACY, cacheControl: 'private, max-age=60' } : LEGACY;
    this.forever = p ? 'private, max-age=31536000, immutable' : IMMUTABLE;
  }

  private idx(h: IncomingHttpHeaders | undefined): ReadIndex {
    return this.d.pick && h ? this.d.pick(h) : this.d.index;
  }

  /** Protected reads: a key with the read scope, sent as basic auth (as Bundler does) or raw. */
  async guard(authorization: string | undefined): Promise<void> {
    if (this.protectedReads) await this.d.keys.authorize(keyFrom(authorization), 'read');
  }

  versions(h: IncomingHttpHeaders): Maybe<Answer> {
    return then(this.idx(h).versionsFile(), (rep) => answerRepresentation(rep, this.compact, h));
  }

  names(h: IncomingHttpHeaders): Maybe<Answer> {
    return then(this.idx(h).namesFile(), (rep) => answerRepresentation(rep, this.compact, h));
  }

  info(name: string, h: IncomingHttpHeaders): Maybe<Answer> {
    if (!isValidGemName(name)) throw new QuarryError('bad_request', `"${name}" is not a valid gem name`);
    return then(this.idx(h).info(name), (rep) =>
      rep
        ? answerRepresentation(rep, this.compact, h)
        : textAnswer(404, `This rubygem could not be found: ${name}\n`, { 'cache-control': 'max-age=60' }),
    );
  }

  /** One of LEGACY_FILES. */
  legacy(file: string, h: IncomingHttpHeaders): Maybe<Answer> {
    return then(this.idx(h).legacyFile(file), (rep) => answerRepresentation(rep!, this.legacyOptions, h));
  }

  /** `/quick/Marshal.4.8/FILE`. */
  quickSpec(file: string, h?: IncomingHttpHeaders): Maybe<Answer> {
    const m = /^(.+)\.gemspec\.rz$/.exec(file);
    const notFound = () => textAnswer(404, `Not found: ${file}\n`);
    if (!m) return notFound();
    return then(this.idx(h).quickSpec(m[1]!), (body) =>
      body ? immutable(body, undefined, this.forever) : notFound(),
    );
  }

  /** `/gems/FILE`: the .gem bytes of a live version. */
  gem(file: string, h?: IncomingHttpHeaders): Maybe<Answer> {
    const m = /^(.+)\.gem$/.exec(file);
    const notFound = () => textAnswer(404, `Not found: ${file}\n`);
    if (!m) return notFound();
    return then(this.idx(h).gemFile(m[1]!), (v) => {
      if (!v) return notFound();
      // The ETag is the SHA-256 of bytes that never change: a client that holds them gets a 304.
      const inm = h?.['if-none-match'];
      if (inm && etagMatches(inm, v.sha256))
        return {
          status: 304,
          headers: { 'content-type': OCTET, 'cache-control': this.forever, etag: `"${v.sha256}"` },
          body: null,
        };
      if (!this.d.gemBodies.holds(v.size)) {
        // Too large to hold: streamed from the store, so memory stays flat whatever the clients.
        return {
          status: 200,
          headers: {
            'content-type': OCTET,
            'cache-control': this.forever,
            etag: `"${v.sha256}"`,
            'content-length': String(v.size),
          },
          body: null,
          stream: async () => {
            const s = await this.d.gemBodies.stream(v.sha256);
            if (!s) throw new Error(`blob missing for ${file} (sha256 ${v.sha256}); run quarry verify`);
            return s;
          },
        };
      }
      return then(this.d.gemBodies.get(v.sha256), (body) => {
        if (!body) throw new Error(`blob missing for ${file} (sha256 ${v.sha256}); run quarry verify`);
        let a = gemAnswers.get(body);
        if (!a) {
          a = immutable(body, `"${v.sha256}"`, this.forever);
          gemAnswers.set(body, a);
        }
        return a;
      });
    });
  }

  /** The valid names of a `gems=` query (at most DEPENDENCY_API_MAX_NAMES). */
  dependencyNames(gems: string | undefined): string[] {
    const names = parseGemsParam(gems);
    if (names.length > DEPENDENCY_API_MAX_NAMES)
      throw new QuarryError(
        'limit_exceeded',
        `Too many gems (at most ${DEPENDENCY_API_MAX_NAMES}; use --full-index instead)`,
      );
    return names.filter(isValidGemName);
  }

  /** `/api/v1/dependencies?gems=A,B`: Marshal 4.8; no `gems` at all: an empty body. */
  dependencies(gems: string | undefined, h?: IncomingHttpHeaders): Maybe<Answer> {
    const names = this.dependencyNames(gems);
    if (names.length === 0 && !gems) return EMPTY;
    return then(this.idx(h).dependenciesBody(names), (body) => ({
      status: 200,
      headers: { 'content-type': OCTET, 'content-length': String(body.length) },
      body,
    }));
  }
}
