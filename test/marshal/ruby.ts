/**
 * Test helpers that ask real Ruby (found via PATH) for the truth. If Ruby is missing these throw,
 * so the tests that use them fail rather than skip.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Constraint, GemSpec } from '../../src/gem/spec.ts';

/** Runs `ruby -e script ARGS...` with `input` on stdin and returns stdout. */
export function ruby(
  script: string,
  options: { args?: string[]; input?: string | Uint8Array; env?: Record<string, string>; cwd?: string } = {},
): Buffer {
  return execFileSync('ruby', ['-e', script, ...(options.args ?? [])], {
    input: options.input ?? '',
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/**
 * Ruby prelude defining `safe_loads(bytes)`: Marshal.load, and Gem::SafeMarshal.safe_load too when
 * this RubyGems has it (RubyGems 3.3 does not). Returns the Marshal.load result.
 */
export const RUBY_SAFE_LOAD = `
  require "rubygems"
  begin; require "rubygems/safe_marshal"; rescue LoadError; end
  def safe_loads(bytes)
    v = Marshal.load(bytes)
    Gem::SafeMarshal.safe_load(bytes) if defined?(Gem::SafeMarshal)
    v
  end
`;

/** `Marshal.dump(eval(expr))` in Ruby, as bytes. */
export const rubyDump = (expr: string): Buffer =>
  ruby(`$stdout.binmode; $stdout.write Marshal.dump(${expr})`);

/** Decodes a Ruby `String#inspect` literal body ("\x04\bU:...") into bytes. */
export function rubyLiteral(s: string): Buffer {
  const out: number[] = [];
  const simple: Record<string, number> = {
    a: 7,
    b: 8,
    t: 9,
    n: 10,
    v: 11,
    f: 12,
    r: 13,
    e: 27,
    '"': 34,
    '\\': 92,
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== '\\') {
      out.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = s[++i] as string;
    if (n === 'x') {
      out.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (simple[n] !== undefined) {
      out.push(simple[n] as number);
    } else if (/[0-7]/.test(n)) {
      let j = i;
      while (j < i + 3 && /[0-7]/.test(s[j] ?? '')) j++;
      out.push(Number.parseInt(s.slice(i, j), 8));
      i = j - 1;
    } else {
      throw new Error(`unknown escape \\${n}`);
    }
  }
  return Buffer.from(out);
}

/** Hex listing with "quoted ASCII" runs, as PROTOCOL.md writes dumps: `04 08 3a 09 "name"`. */
export function listing(text: string): Buffer {
  const out: number[] = [];
  for (const m of text.matchAll(/"([^"]*)"|\b([0-9a-fA-F]{2})\b/g)) {
    if (m[1] !== undefined) out.push(...Buffer.from(m[1], 'utf8'));
    else out.push(Number.parseInt(m[2] as string, 16));
  }
  return Buffer.from(out);
}

export interface RubyGemFixture {
  /** The .gem file name. */
  file: string;
  /** The spec fields as RubyGems loaded them from the .gem, in our model. */
  spec: GemSpec;
  /** Ruby's `Marshal.dump(spec)` after `spec.abbreviate; spec.sanitize`. */
  marshal: Buffer;
}

export interface RubyGemFixtures {
  dir: string;
  gems: RubyGemFixture[];
  cleanup(): void;
}

type RubyReq = [Constraint['op'], string][];
const req = (r: RubyReq): Constraint[] => r.map(([op, version]) => ({ op, version }));

/**
 * Builds the gems of fixtures/build_gems.rb with real RubyGems in a fresh temp dir (gems in
 * DIR/gems) and returns each spec with Ruby's quick-spec Marshal bytes.
 */
export function buildRubyGems(): RubyGemFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'quarry-marshal-'));
  const script = fileURLToPath(new URL('./fixtures/build_gems.rb', import.meta.url));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  let out: Buffer;
  try {
    out = execFileSync('ruby', [script, dir], {
      env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' },
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    cleanup();
    throw e;
  }
  // biome-ignore lint/suspicious/noExplicitAny: JSON from our own Ruby script
  const parsed = JSON.parse(out.toString('utf8')) as { spec: any; marshalHex: string }[];
  const gems = parsed.map(({ spec: s, marshalHex }): RubyGemFixture => {
    const spec: GemSpec = {
      name: s.name,
      version: s.version,
      platform: s.platform,
      summary: s.summary,
      description: s.description,
      authors: s.authors,
      email: s.email,
      homepage: s.homepage,
      licenses: s.licenses,
      metadata: s.metadata,
      date: new Date(s.date),
      dependencies: s.dependencies.map(
        (d: { name: string; requirement: RubyReq; type: string; prerelease: boolean }) => ({
          name: d.name,
          requirement: req(d.requirement),
          type: d.type,
          prerelease: d.prerelease,
        }),
      ),
      requiredRubyVersion: req(s.requiredRubyVersion),
      requiredRubygemsVersion: req(s.requiredRubygemsVersion),
      rubygemsVersion: s.rubygemsVersion,
      specificationVersion: s.specificationVersion,
      bindir: s.bindir,
      executables: s.executables,
      extensions: s.extensions,
      requirePaths: s.requirePaths,
      postInstallMessage: s.postInstallMessage,
      certChain: s.certChain,
    };
    return { file: s.file, spec, marshal: Buffer.from(marshalHex, 'hex') };
  });
  return { dir, gems, cleanup };
}
