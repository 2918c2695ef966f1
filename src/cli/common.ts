/** Options every data-touching verb takes, and the config they load. */
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

export interface CommonOptions {
  config?: string;
  data?: string;
}

export const withCommon = (cmd: Command): Command =>
  cmd.option('--config <file>', 'configuration file (quarry.yaml)').option('--data <dir>', 'data directory');

export function configFrom(opts: CommonOptions, flags: Record<string, unknown> = {}): Config {
  const f: Record<string, unknown> = { ...flags };
  if (opts.data) f['data'] = opts.data;
  for (const k of Object.keys(f)) if (f[k] === undefined) delete f[k];
  return loadConfig({
    file: opts.config ?? process.env['QUARRY_CONFIG'],
    env: process.env,
    flags: f as never,
  });
}
