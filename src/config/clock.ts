/**
 * The clock. Pure code never reads the time; the CLI passes this in.
 * QUARRY_NOW (ISO 8601) or SOURCE_DATE_EPOCH (seconds) pin it, for reproducible builds and tests.
 */
import { QuarryError } from '../errors.ts';

export type Clock = () => Date;

export function clockFromEnv(env: Readonly<Record<string, string | undefined>>): Clock {
  const fixed = env['QUARRY_NOW'];
  if (fixed) {
    const d = new Date(fixed);
    if (Number.isNaN(d.getTime()))
      throw new QuarryError('config', `QUARRY_NOW is not an ISO 8601 time: ${fixed}`);
    return () => new Date(d);
  }
  const epoch = env['SOURCE_DATE_EPOCH'];
  if (epoch) {
    if (!/^\d+$/.test(epoch))
      throw new QuarryError('config', `SOURCE_DATE_EPOCH is not a number of seconds: ${epoch}`);
    const d = new Date(Number(epoch) * 1000);
    return () => new Date(d);
  }
  return () => new Date();
}
