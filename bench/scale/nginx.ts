/**
 * nginx on a static copy of Quarry's bytes, configured as bench/server/nginx.ts does, but for
 * 190,000 /info files: that config caches 20,000 open files per worker, which with the usual
 * 20,000-descriptor limit makes nginx fail requests with "too many open files" (500s and stalls).
 * Here each worker may open 65,536 descriptors and caches at most 5,000.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NginxOptions } from '../server/nginx.ts';
import { nginxConfig } from '../server/nginx.ts';
import { start, waitForHttp } from '../server/procs.ts';

export function scaleNginxConfig(o: NginxOptions): string {
  const base = nginxConfig(o);
  const conf = base
    .replace('open_file_cache max=20000 inactive=60s;', 'open_file_cache max=5000 inactive=60s;')
    .replace('daemon off;', 'daemon off;\nworker_rlimit_nofile 65536;');
  if (conf === base) throw new Error('bench/server/nginx.ts changed its config: update bench/scale/nginx.ts');
  return conf;
}

/** Starts nginx in the foreground and waits until it answers. Returns the master's PID. */
export async function startScaleNginx(o: NginxOptions): Promise<number> {
  mkdirSync(join(o.dir, 'tmp'), { recursive: true });
  mkdirSync(join(o.dir, 'logs'), { recursive: true });
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, scaleNginxConfig(o));
  const pid = start('nginx', 'nginx', ['-p', `${o.dir}/`, '-c', conf, '-e', join(o.dir, 'error.log')], {
    log: join(o.dir, 'stderr.log'),
    signal: 'SIGTERM',
  });
  await waitForHttp(pid, `http://127.0.0.1:${o.port}/versions`);
  return pid;
}
