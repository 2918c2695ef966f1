/**
 * Loads the configuration: defaults < quarry.yaml (--config) < QUARRY_* environment < flags.
 * Validated once; an unknown key or a bad value is a QuarryError('config') that names it.
 * The only module that reads process.env for configuration (the caller passes env in).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { QuarryError } from '../errors.ts';
import type { Config } from './schema.ts';
import { configSchema } from './schema.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObj(b) && isObj(v) ? merge(b, v) : v;
  }
  return out;
}

/** QUARRY_PORT=1 -> {port: 1}; QUARRY_LIMITS__BODY_BYTES=5 -> {limits: {body_bytes: 5}}. Values are YAML scalars. */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): Obj {
  let out: Obj = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith('QUARRY_') || raw === undefined) continue;
    if (key === 'QUARRY_NOW' || key === 'QUARRY_CONFIG') continue; // the clock and the file path, not keys
    const path = key.slice('QUARRY_'.length).toLowerCase().split('__');
    let value: Json;
    try {
      value = parseYaml(raw) as Json;
    } catch {
      value = raw;
    }
    if (['data', 'host', 'base_url', 'storage', 'catalog', 'endpoint', 'region'].includes(path.at(-1)!))
      value = raw;
    let node: Obj = { [path.at(-1)!]: value };
    for (const seg of path.slice(0, -1).reverse()) node = { [seg]: node };
    out = merge(out, node);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, source: string): string {
  const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys')
    return `${source}: unknown key ${issue.keys.map((k) => [...issue.path, k].join('.')).join(', ')}`;
  return `${source}: ${where}: ${issue.message}`;
}

export interface LoadOptions {
  file?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  flags?: Obj;
}

export function loadConfig(opts: LoadOptions): Config {
  let fromFile: Obj = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new QuarryError('config', `cannot read config file ${opts.file}: ${(e as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text, { maxAliasCount: 10 });
    } catch (e) {
      throw new QuarryError('config', `${opts.file} is not valid YAML: ${(e as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && !isObj(parsed)) {
      throw new QuarryError('config', `${opts.file} must hold a mapping of keys`);
    }
    fromFile = (parsed as Obj | null) ?? {};
  }
  const layers: [string, Obj][] = [
    [opts.file ?? 'config', fromFile],
    ['environment', configFromEnv(opts.env)],
    ['flags', opts.flags ?? {}],
  ];
  // Validate each layer alone first, so a message can say where a bad key came from.
  for (const [source, layer] of layers) {
    const r = configSchema.safeParse(layer);
    if (!r.success) throw new QuarryError('config', describeIssue(r.error.issues[0]!, source));
  }
  const merged = layers.reduce<Obj>((acc, [, layer]) => merge(acc, layer), {});
  const r = configSchema.safeParse(merged);
  if (!r.success) throw new QuarryError('config', describeIssue(r.error.issues[0]!, 'config'));
  return r.data;
}
