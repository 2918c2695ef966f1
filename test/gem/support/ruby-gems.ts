/** Runs test/gem/support/gems.rb with the real Ruby and parses its JSON output. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GemSpec } from '../../../src/gem/spec.ts';
import { cleanEnv } from '../../support/ruby.ts';

const SCRIPT = fileURLToPath(new URL('./gems.rb', import.meta.url));

/** The fields of GemSpec as Ruby reports them (requirements as [op, version] pairs, date as ISO). */
export interface RubySpec {
  name: string;
  version: string;
  platform: string;
  summary: string;
  description: string | null;
  authors: string[];
  email: string | (string | null)[] | null;
  homepage: string | null;
  licenses: string[];
  metadata: Record<string, string>;
  date: string;
  dependencies: { name: string; requirement: [string, string][]; type: string; prerelease: boolean }[];
  requiredRubyVersion: [string, string][];
  requiredRubygemsVersion: [string, string][];
  rubygemsVersion: string;
  specificationVersion: number;
  bindir: string;
  executables: string[];
  extensions: string[];
  requirePaths: string[];
  postInstallMessage: string | null;
  certChain: string[];
}

export interface RubyGemReport {
  file: string;
  spec?: RubySpec;
  /** Gem::Package#checksums after verify. */
  checksums?: Record<string, Record<string, string>>;
  /** Gem::Package#files after verify: the outer entry names. */
  entries?: string[];
  error?: string;
}

export function rubyGems<T>(mode: string, args: string[] = [], input?: string): T {
  const out = execFileSync('ruby', [SCRIPT, mode, ...args], {
    input,
    env: { ...cleanEnv(), SOURCE_DATE_EPOCH: '1700000000', TZ: 'UTC' },
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as T;
}

/** A fresh directory under os.tmpdir(), removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Our spec in the shape gems.rb prints (requirements as pairs, date as an ISO string). */
export function specAsRuby(spec: GemSpec): RubySpec {
  const pairs = (r: GemSpec['requiredRubyVersion']) => r.map((c): [string, string] => [c.op, c.version]);
  return {
    ...spec,
    date: spec.date.toISOString(),
    dependencies: spec.dependencies.map((d) => ({ ...d, requirement: pairs(d.requirement) })),
    requiredRubyVersion: pairs(spec.requiredRubyVersion),
    requiredRubygemsVersion: pairs(spec.requiredRubygemsVersion),
  };
}
