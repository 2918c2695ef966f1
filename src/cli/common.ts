/** Options every data-touching verb takes, and the config they load. */
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import { QuarryError } from '../errors.ts';

export interface CommonOptions {
  config?: string;
  data?: string;
}

export const withCommon = (cmd: Command): Command =>
  cmd.option('--config <file>', 'configuration file (quarry.yaml)').option('--data <dir>', 'data directory');

/** Loads and validates the config (the loader, with zod and yaml, is imported on first use). */
export async function configFrom(opts: CommonOptions, flags: Record<string, unknown> = {}): Promise<Config> {
  const { loadConfig } = await import('../config/load.ts');
  const f: Record<string, unknown> = { ...flags };
  if (opts.data) f['data'] = opts.data;
  for (const k of Object.keys(f)) if (f[k] === undefined) delete f[k];
  return loadConfig({
    file: opts.config ?? process.env['QUARRY_CONFIG'],
    env: process.env,
    flags: f as never,
  });
}

/** `--upstream URL`: the URL and a name made from its host (for /upstream/NAME, metrics, blob keys). */
export function upstreamFromFlag(url: string): { name: string; url: string } {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    throw new QuarryError('config', `--upstream must be an http(s) URL, not "${url}"`);
  }
  const name =
    host
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^-+/, '')
      .slice(0, 32) || 'upstream';
  return { name, url };
}
