/** Options every data-touching verb takes, and the config they load. */
import { setFlagsFromString } from 'node:v8';
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

/**
 * V8's heap for a long-running command (serve, mirror, import): the old generation grows at most 50%
 * past what survived the last full collection. V8's own factor goes up to 4x when collections are
 * cheap: a node at rubygems.org's size, about 140 MB live, grew to 570 MB of heap between
 * collections and past 1 GiB of RSS (698 MiB with this); a mirror of 20,003 gems peaked at 241 MiB
 * (179 MiB with this) in the same time. What these keep is bounded and their garbage short-lived,
 * so a tighter growth costs a little more marking. Node's own --heap-growing-percent (on the
 * command line or in NODE_OPTIONS) wins.
 */
export function boundHeapGrowth(): void {
  const given = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  if (given.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return;
  setFlagsFromString('--heap-growing-percent=50');
}
