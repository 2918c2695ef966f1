/** Options every data-touching verb takes, and the config they load. */
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';

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
