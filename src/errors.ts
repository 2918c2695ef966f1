/**
 * Every error Quarry raises on purpose is a QuarryError with a stable code.
 * Only the HTTP layer and the CLI map codes to statuses and exit codes.
 */
export type ErrorCode =
  | 'invalid_gem' // the .gem package is corrupt, hostile or not a gem
  | 'invalid_spec' // the gemspec inside is malformed or fails validation
  | 'invalid_name'
  | 'invalid_version'
  | 'invalid_platform'
  | 'invalid_requirement'
  | 'limit_exceeded' // a size, ratio or count limit was hit
  | 'marshal' // a Marshal stream could not be read or written
  | 'invalid_index' // a compact index body (/versions, /info) could not be parsed
  | 'conflict' // the version already exists
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'bad_request'
  | 'too_large' // a request body over limits.body_bytes
  | 'rate_limited' // too many failed key checks or sign-ins from one client
  | 'storage_full' // the disk or database is full (ENOSPC, SQLITE_FULL)
  | 'upstream_unavailable' // an upstream is down (or offline) and nothing is cached
  | 'upstream_bad_gateway' // an upstream answered with an error, a bad body, or tampered bytes
  | 'upstream_timeout' // an upstream did not answer within its timeout_ms
  | 'config'
  | 'io';

export class QuarryError extends Error {
  readonly code: ErrorCode;
  /** The file or object the error is about, when there is one. */
  readonly subject: string | undefined;
  /** For rate_limited: seconds until the client may try again. */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { subject?: string; cause?: unknown; retryAfter?: number },
  ) {
    super(options?.subject ? `${options.subject}: ${message}` : message, { cause: options?.cause });
    this.name = 'QuarryError';
    this.code = code;
    this.subject = options?.subject;
    this.retryAfter = options?.retryAfter;
  }

  /** The same error, now naming the file or object it is about. */
  about(subject: string): QuarryError {
    if (this.subject) return this;
    const e = new QuarryError(this.code, this.message, { subject, cause: this.cause });
    e.stack = this.stack;
    return e;
  }
}

export const isQuarryError = (e: unknown): e is QuarryError => e instanceof QuarryError;

/** A full disk or database as a storage_full error; anything else unchanged. */
export function asStorageFull(e: unknown, what: string): unknown {
  const code = (e as { code?: unknown })?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === '53100') {
    return new QuarryError('storage_full', `${what}: no space left (${String(code)})`, { cause: e });
  }
  return e;
}
