/**
 * API keys: created with scopes, an optional gem-name pattern and expiry; stored as SHA-256 hashes
 * (keys are 256-bit random, so a fast hash is enough) and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, Catalog, Scope } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';

export const SCOPES: readonly Scope[] = ['push', 'yank', 'read'];
const KEY_PREFIX = 'quarry_';

export const hashKey = (raw: string): string => createHash('sha256').update(raw, 'utf8').digest('hex');

/** `30d`, `12h`, `45m` or an ISO 8601 date. */
export function parseExpiry(input: string, now: Date): string {
  const m = /^(\d+)([dhm])$/.exec(input);
  if (m) {
    const n = Number(m[1]);
    const ms = m[2] === 'd' ? 86_400_000 : m[2] === 'h' ? 3_600_000 : 60_000;
    return new Date(now.getTime() + n * ms).toISOString();
  }
  const d = new Date(input);
  if (Number.isNaN(d.getTime()))
    throw new QuarryError('bad_request', `expiry "${input}" is neither like 30d, 12h, 45m nor a date`);
  return d.toISOString();
}

export function parseScopes(input: string | readonly string[]): Scope[] {
  const list = (typeof input === 'string' ? input.split(',') : [...input])
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0)
    throw new QuarryError('bad_request', `no scopes given; choose from ${SCOPES.join(', ')}`);
  for (const s of list) {
    if (!SCOPES.includes(s as Scope))
      throw new QuarryError('bad_request', `unknown scope "${s}"; choose from ${SCOPES.join(', ')}`);
  }
  return [...new Set(list)] as Scope[];
}

/** A glob over gem names: letters, digits, `._-` and `*`. */
export function gemPatternMatches(pattern: string | null, name: string): boolean {
  if (pattern === null) return true;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(name);
}

export function validateGemPattern(pattern: string): void {
  if (!/^[A-Za-z0-9._*-]+$/.test(pattern)) {
    throw new QuarryError(
      'bad_request',
      `gem pattern "${pattern}" may only hold letters, digits, . _ - and *`,
    );
  }
}

export interface CreatedKey {
  key: string;
  record: ApiKeyRecord;
}

/** One answer for unknown, revoked and expired keys: the difference is no one else's business. */
const INVALID_KEY = 'Access Denied. The API key is not valid (unknown, revoked or expired).';

/** How often a key's last_used_at is written at most. */
const TOUCH_INTERVAL_MS = 60_000;

export class KeyService {
  /** When this process last wrote each key's last_used_at. */
  private readonly touched = new Map<number, number>();

  constructor(
    private readonly catalog: Catalog,
    private readonly now: () => Date,
  ) {}

  async create(opts: {
    name: string;
    scopes: Scope[];
    gemPattern?: string | null;
    expires?: string | null;
  }): Promise<CreatedKey> {
    if (opts.gemPattern) validateGemPattern(opts.gemPattern);
    const now = this.now();
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const record = await this.catalog.createKey({
      name: opts.name,
      prefix: key.slice(0, KEY_PREFIX.length + 6),
      hash: hashKey(key),
      scopes: opts.scopes,
      gemPattern: opts.gemPattern ?? null,
      expiresAt: opts.expires ? parseExpiry(opts.expires, now) : null,
      createdAt: now.toISOString(),
    });
    return { key, record };
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.catalog.listKeys();
  }

  async revoke(id: number): Promise<void> {
    if (!(await this.catalog.revokeKey(id, this.now().toISOString()))) {
      throw new QuarryError('not_found', `no active key with id ${id}`);
    }
  }

  /**
   * Checks a raw key for a scope (and a gem name, for push and yank).
   * 401 (unauthorized) when the key is missing, unknown, revoked or expired, with one message for
   * all three; 403 (forbidden) when it lacks the scope or does not cover the gem.
   */
  async authorize(raw: string | undefined, scope: Scope, gemName?: string): Promise<ApiKeyRecord> {
    if (!raw)
      throw new QuarryError(
        'unauthorized',
        'an API key is required (set GEM_HOST_API_KEY or use gem signin)',
      );
    const hash = hashKey(raw.trim());
    const found = await this.catalog.findKeyByHash(hash);
    const now = this.now();
    if (
      !found ||
      !timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex')) ||
      found.revokedAt ||
      (found.expiresAt && new Date(found.expiresAt).getTime() <= now.getTime())
    ) {
      throw new QuarryError('unauthorized', INVALID_KEY);
    }
    if (!found.scopes.includes(scope)) {
      throw new QuarryError(
        'forbidden',
        `This API key cannot perform the specified action: it lacks the ${scope} scope.`,
      );
    }
    if (gemName !== undefined) this.checkGem(found, gemName);
    // last_used_at is coarse: at most one write per key a minute, not one per request.
    const last = found.lastUsedAt ? new Date(found.lastUsedAt).getTime() : Number.NEGATIVE_INFINITY;
    const touched = this.touched.get(found.id) ?? Number.NEGATIVE_INFINITY;
    if (now.getTime() - Math.max(last, touched) >= TOUCH_INTERVAL_MS) {
      this.touched.set(found.id, now.getTime());
      await this.catalog.touchKey(found.id, now.toISOString());
    }
    const { hash: _h, ...record } = found;
    return record;
  }

  /** 403 unless the key's gem pattern covers the name. */
  checkGem(key: Pick<ApiKeyRecord, 'gemPattern'>, gemName: string): void {
    if (!gemPatternMatches(key.gemPattern, gemName)) {
      throw new QuarryError(
        'forbidden',
        `This API key cannot perform the specified action on this gem (${gemName}).`,
      );
    }
  }
}
