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
  | 'conflict' // the version already exists
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'bad_request'
  | 'config'
  | 'io';

export class QuarryError extends Error {
  readonly code: ErrorCode;
  /** The file or object the error is about, when there is one. */
  readonly subject: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { subject?: string; cause?: unknown }) {
    super(options?.subject ? `${options.subject}: ${message}` : message, { cause: options?.cause });
    this.name = 'QuarryError';
    this.code = code;
    this.subject = options?.subject;
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
