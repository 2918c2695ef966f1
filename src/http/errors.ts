/** The one place where errors become HTTP statuses. Bodies are plain text, as RubyGems prints them. */
import type { ErrorCode, QuarryError } from '../errors.ts';
import type { Answer } from './representation.ts';
import { textAnswer } from './representation.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_gem: 422,
  invalid_spec: 422,
  limit_exceeded: 422,
  invalid_name: 400,
  invalid_version: 400,
  invalid_platform: 400,
  invalid_requirement: 400,
  bad_request: 400,
  marshal: 500,
  invalid_index: 502,
  conflict: 409,
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  too_large: 413,
  rate_limited: 429,
  storage_full: 507,
  upstream_unavailable: 503,
  upstream_bad_gateway: 502,
  upstream_timeout: 504,
  config: 500,
  io: 500,
};

export const statusFor = (code: ErrorCode): number => STATUS[code];

const CHALLENGE = { 'www-authenticate': 'Basic realm="Quarry"' };

/**
 * The response to a QuarryError. With protected reads, a 401 carries a Basic challenge so that
 * Bundler and RubyGems ask for credentials.
 */
export function errorAnswer(err: QuarryError, protectedReads: boolean): Answer {
  const status = statusFor(err.code);
  const headers: Record<string, string> = status === 401 && protectedReads ? { ...CHALLENGE } : {};
  if (err.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfter)));
  else if (status === 503) headers['retry-after'] = '60';
  return textAnswer(status, `${err.message}\n`, headers);
}
