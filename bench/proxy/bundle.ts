/**
 * Real `bundle install` runs for the proxy benchmark, each in a fresh Ruby sandbox (test/support/
 * ruby.ts: its own HOME, GEM_HOME, Bundler home and BUNDLE_PATH), so no run profits from a client
 * cache left by another. Also picks the Gemfile: top-level gems added one at a time until the
 * lockfile holds enough gems.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RubySandbox } from '../../test/support/ruby.ts';
import { describeRun, rubySandbox } from '../../test/support/ruby.ts';

export const gemfileText = (source: string, gems: readonly string[]): string =>
  `source "${source}"\n\n${gems.map((g) => `gem "${g}"\n`).join('')}`;

/** The `name (version)` lines of a lockfile's specs. */
export const lockedSpecs = (lock: string): string[] =>
  lock
    .split('\n')
    .filter((l) => /^ {4}\S+ \(.+\)$/.test(l))
    .map((l) => l.trim())
    .sort();

export interface InstallRun {
  /** Wall time of `bundle install`, spawn to exit. */
  ms: number;
  /** The lockfile's specs. */
  specs: string[];
}

/** `bundle install` of the Gemfile in a fresh sandbox (no lockfile: resolved every time). */
export async function timedBundleInstall(source: string, gems: readonly string[]): Promise<InstallRun> {
  const s = rubySandbox('quarry-bench-proxy-');
  try {
    const app = join(s.root, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'Gemfile'), gemfileText(source, gems));
    const t0 = performance.now();
    const r = await s.bundle(['install'], {
      cwd: app,
      env: { BUNDLE_PATH: join(s.root, 'bundle') },
      timeoutMs: 300_000,
    });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(describeRun(`bundle install from ${source}`, r));
    return { ms, specs: lockedSpecs(readFileSync(join(app, 'Gemfile.lock'), 'utf8')) };
  } finally {
    s.cleanup();
  }
}

/**
 * Top-level gems for the Gemfile: candidates are tried in order with `bundle lock` against
 * `source`; one is kept when the lock still resolves with at most `max` gems. Stops at `min`.
 */
export async function pickGemfile(
  source: string,
  candidates: readonly string[],
  min: number,
  max: number,
  say: (msg: string) => void,
): Promise<{ gems: string[]; specs: string[] }> {
  const s: RubySandbox = rubySandbox('quarry-bench-proxy-pick-');
  try {
    const app = join(s.root, 'app');
    mkdirSync(app);
    let gems: string[] = [];
    let specs: string[] = [];
    for (const name of candidates.slice(0, 60)) {
      const trial = [...gems, name];
      writeFileSync(join(app, 'Gemfile'), gemfileText(source, trial));
      rmSync(join(app, 'Gemfile.lock'), { force: true });
      const r = await s.bundle(['lock'], { cwd: app, timeoutMs: 120_000 });
      if (r.status !== 0) continue;
      const got = lockedSpecs(readFileSync(join(app, 'Gemfile.lock'), 'utf8'));
      if (got.length > max) continue;
      gems = trial;
      specs = got;
      if (specs.length >= min) break;
    }
    if (specs.length < min)
      throw new Error(`no Gemfile resolving to ${min}–${max} gems among the candidates`);
    say(`Gemfile: ${gems.length} top-level gems, ${specs.length} in the lockfile`);
    return { gems, specs };
  } finally {
    s.cleanup();
  }
}
