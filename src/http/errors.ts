/** The one place where errors become HTTP statuses. Bodies are plain text, as RubyGems prints them. */
import type { ErrorCode } from '../errors.ts';

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
  conflict: 409,
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  config: 500,
  io: 500,
};

export const statusFor = (code: ErrorCode): number => STATUS[code];
