/**
 * The test corpus: real gems rebuilt from the machine's Ruby plus generated edge cases (see
 * corpus.rb). It is built once per process by real RubyGems, then copied for each test.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, describeRun, requireRuby, runSync } from './ruby.ts';

export interface CorpusGem {
  /** The .gem file name, e.g. `edge-native-2.0.0-x86_64-linux.gem`. */
  file: string;
  name: string;
  version: string;
  /** The original platform string: `ruby`, `java`, `x86_64-linux`. */
  platform: string;
  prerelease: boolean;
  /** `debian`: rebuilt from an installed gem; `generated`: made up by corpus.rb. */
  origin: 'debian' | 'generated';
  /** Not in the corpus's gems/; a test adds it later (e.g. for `quarry index --update`). */
  extra: boolean;
  size: number;
  /** Absolute path of the built file in the per-process cache. Read it, never change it. */
  path: string;
}

export interface Corpus {
  /** The directory given to buildCorpus. */
  dir: string;
  /** dir/gems, holding every non-extra gem. */
  gemsDir: string;
  /** The gems copied into gemsDir, sorted by file name. */
  gems: CorpusGem[];
  /** Gems that were built but not copied; copy them in with addExtra(). */
  extras: CorpusGem[];
  /** Copy an extra gem (by file name) into gemsDir; returns it. */
  addExtra(file: string): CorpusGem;
  /** The gem with that file name, among gems and extras. Throws if there is none. */
  gem(file: string): CorpusGem;
}

const SCRIPT = fileURLToPath(new URL('./corpus.rb', import.meta.url));

let cache: { dir: string; gems: CorpusGem[] } | undefined;

function built(): { dir: string; gems: CorpusGem[] } {
  if (cache) return cache;
  requireRuby();
  const dir = mkdtempSync(join(tmpdir(), 'quarry-corpus-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const r = runSync('ruby', [SCRIPT, dir], { env: cleanEnv(), timeoutMs: 120_000 });
  if (r.status !== 0) throw new Error(describeRun('ruby corpus.rb', r));
  process.stderr.write(r.stderr);
  const raw = JSON.parse(r.stdout) as Omit<CorpusGem, 'path'>[];
  const gems = raw
    .map((g) => ({ ...g, path: join(dir, g.extra ? 'extra' : 'gems', g.file) }))
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  process.stderr.write(`corpus: built ${gems.length} gems in ${Date.now() - started} ms\n`);
  cache = { dir, gems };
  return cache;
}

/** Make dir/gems/*.gem from the (cached) corpus. dir is created if needed; existing files stay. */
export function buildCorpus(dir: string): Corpus {
  const { gems: all } = built();
  const gemsDir = join(dir, 'gems');
  mkdirSync(gemsDir, { recursive: true });
  const gems = all.filter((g) => !g.extra);
  for (const g of gems) copyFileSync(g.path, join(gemsDir, g.file));
  const extras = all.filter((g) => g.extra);
  const find = (file: string): CorpusGem => {
    const g = all.find((x) => x.file === file);
    if (!g) throw new Error(`no corpus gem named ${file}`);
    return g;
  };
  return {
    dir,
    gemsDir,
    gems,
    extras,
    gem: find,
    addExtra(file) {
      const g = find(file);
      copyFileSync(g.path, join(gemsDir, g.file));
      return g;
    },
  };
}
