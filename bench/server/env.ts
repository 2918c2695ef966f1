/** The benchmark's environment: tools it needs, the corpus, versions of the software, memory. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from './options.ts';

const say = (msg: string): boolean => process.stderr.write(`bench:server: ${msg}\n`);

/** Installs the Debian packages wrk and nginx-light when missing (as root); fails if still missing. */
export function ensureTools(): void {
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  const missing = [
    ['wrk', 'wrk'],
    ['nginx', 'nginx-light'],
  ].filter(([cmd]) => !has(cmd!));
  if (missing.length > 0 && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    const pkgs = missing.map(([, pkg]) => pkg!);
    say(`installing ${pkgs.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
      stdio: 'inherit',
      env,
    });
  }
  for (const [cmd, pkg] of missing)
    if (!has(cmd!)) throw new Error(`${cmd} is required (Debian package ${pkg}); install it or run as root`);
}

/** The corpus of N gems from bench/gen-corpus.rb (cached in bench/.work/corpus-N). */
export function corpus(root: string, work: string, n: number): { dir: string; files: string[] } {
  const dir = join(work, `corpus-${n}`);
  execFileSync('ruby', [join(root, 'bench', 'gen-corpus.rb'), String(n), dir, '--extra', '10'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const files = readdirSync(join(dir, 'gems'))
    .filter((f) => f.endsWith('.gem'))
    .sort();
  if (files.length !== n) throw new Error(`corpus ${dir} has ${files.length} gems, not ${n}`);
  return { dir: join(dir, 'gems'), files };
}

export const rssMiB = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
};

/** One line per piece of software measured. */
export function software(root: string, o: Options): string[] {
  const out = (cmd: string, args: string[]) => {
    // GIT_OPTIONAL_LOCKS=0: `git status` only reads, it does not refresh the index.
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } });
    return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '?';
  };
  const commit = out('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty = out('git', ['-C', root, 'status', '--porcelain', '--', 'src']) !== '';
  const list = [
    `Quarry at commit ${commit}${dirty ? ' with uncommitted changes under src/' : ''}`,
    `Node ${process.version}; ${out('ruby', ['-v'])}`,
    `${out('wrk', ['--version'])}`.replace(/ Copyright.*/, ''),
    out('nginx', ['-v']).replace(/^nginx version: /, ''),
  ];
  if (o.geminabox) {
    const v = /VERSION = '([^']+)'/.exec(
      existsSync(join(o.geminabox, 'lib/geminabox/version.rb'))
        ? readFileSync(join(o.geminabox, 'lib/geminabox/version.rb'), 'utf8')
        : '',
    );
    list.push(
      `Gem in a Box ${v?.[1] ?? '?'} from source, on Debian's ${out('ruby', ['-e', 'require "sinatra/base"; require "puma/const"; print "Sinatra #{Sinatra::VERSION}, Puma #{Puma::Const::VERSION} (single mode, threads 0-5), Rack #{Rack.release}"'])}; stand-ins for nesty and reentrant_flock (not in Debian)`,
    );
  }
  return list;
}

/**
 * The environment of a quarry child in a benchmark: the caller's without QUARRY_* settings, Node
 * options or a pinned clock, and no default upstream (nothing leaves loopback), plus `extra`.
 */
export function quarryEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(QUARRY_|NODE_OPTIONS$|SOURCE_DATE_EPOCH$)/.test(k)) env[k] = v;
  }
  return { ...env, QUARRY_UPSTREAMS: '[]', ...extra };
}
