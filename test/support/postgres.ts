/**
 * A throwaway PostgreSQL server for tests: initdb into a temp folder, then `postgres` itself (not
 * pg_ctl, which daemonizes) on 127.0.0.1 with a free port, trust auth for the user `quarry`, and
 * durability off. `stop()` (or, failing that, the exit of the test process) ends it by PID.
 *
 * PostgreSQL refuses to run as root. As root, initdb and postgres run as the `postgres` system user:
 * Node's spawn sets their uid and gid itself (and drops supplementary groups), so no runuser or su
 * sits between us and the server and the PID we hold is the postmaster's own.
 *
 * Debian keeps the server binaries off PATH, in /usr/lib/postgresql/VERSION/bin; the highest version
 * there is used, else PATH. Not installed is an error, never a skip: `node scripts/setup.mjs` as root
 * installs it.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

export interface PgServer {
  /** postgres://quarry@127.0.0.1:PORT/postgres, the maintenance database. */
  url: string;
  port: number;
  /** The postmaster's PID. */
  pid: number;
  /** The temp folder holding the data directory and the socket directory; removed by stop(). */
  directory: string;
  /** Creates an empty database (named uniquely unless `name` is given) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Fast shutdown (SIGINT; SIGKILL after 10 s), then removes the folder. Idempotent. */
  stop(): Promise<void>;
}

const USER = 'quarry';
const HOST = '127.0.0.1';
const READY_DEADLINE_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const STDERR_LIMIT = 64 * 1024;

interface Binaries {
  initdb: string;
  postgres: string;
}

/** initdb and postgres from the highest /usr/lib/postgresql/VERSION/bin, else from PATH. */
function findBinaries(): Binaries {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+(\.\d+)*$/.test(v))
        .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
    : [];
  const dirs = [
    ...versions.map((v) => join(base, v, 'bin')),
    ...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean),
  ];
  for (const dir of dirs) {
    const initdb = join(dir, 'initdb');
    const postgres = join(dir, 'postgres');
    if (existsSync(initdb) && existsSync(postgres)) return { initdb, postgres };
  }
  throw new Error(
    'PostgreSQL is not installed (no initdb and postgres in /usr/lib/postgresql/*/bin or on PATH): ' +
      'run `node scripts/setup.mjs` as root',
  );
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Who runs the server: the `postgres` system user when we are root, else ourselves (undefined). */
function serverUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const r = spawnSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' });
  const fields = r.status === 0 ? r.stdout.trim().split(':') : [];
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (fields.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) {
    throw new Error(
      'PostgreSQL refuses to run as root, and there is no `postgres` system user to run it as: ' +
        'run `node scripts/setup.mjs` as root',
    );
  }
  return { uid, gid };
}

/** A temp folder the server user owns and can reach: os.tmpdir() when it can traverse it, else /tmp. */
async function makeFolder(as: RunAs | undefined): Promise<string> {
  const reachable = (dir: string) =>
    as === undefined ||
    spawnSync('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], { uid: as.uid, gid: as.gid, stdio: 'ignore' })
      .status === 0;
  const parent = [tmpdir(), '/tmp'].find(reachable);
  if (parent === undefined) {
    throw new Error(`the postgres user cannot reach ${tmpdir()} or /tmp to keep a throwaway server there`);
  }
  const dir = await mkdtemp(join(parent, 'quarry-pg-'));
  mkdirSync(join(dir, 'socket'));
  chmodSync(dir, 0o700);
  if (as !== undefined) {
    chownSync(dir, as.uid, as.gid);
    chownSync(join(dir, 'socket'), as.uid, as.gid);
  }
  return dir;
}

/** The environment for initdb and postgres: ours without PG* variables, in the C locale. */
function serverEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('PG') && !k.startsWith('LC_')) env[k] = v;
  return { ...env, HOME: dir, LANG: 'C', LC_ALL: 'C' };
}

function initdb(bin: Binaries, dir: string, as: RunAs | undefined): Promise<void> {
  const args = ['-D', join(dir, 'data'), '-A', 'trust', '-U', USER, '--no-sync', '-E', 'UTF8', '--locale=C'];
  return new Promise((resolve, reject) => {
    execFile(
      bin.initdb,
      args,
      { cwd: dir, env: serverEnv(dir), maxBuffer: 16 * 1024 * 1024, ...as },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`initdb failed: ${err.message}\n${stdout}${stderr}`));
        else resolve();
      },
    );
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const urlFor = (port: number, db: string) => `postgres://${USER}@${HOST}:${port}/${db}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` with a connected client, then closes it. */
async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, ssl: false, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {}); // e.g. the server shutting down under an idle client
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  stderr: () => string;
}

function launch(bin: Binaries, dir: string, port: number, as: RunAs | undefined): Running {
  const args = [
    '-D',
    join(dir, 'data'),
    '-k',
    join(dir, 'socket'),
    '-h',
    HOST,
    '-p',
    String(port),
    '-F',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=200',
  ];
  const child = spawn(bin.postgres, args, {
    cwd: dir,
    env: serverEnv(dir),
    stdio: ['ignore', 'ignore', 'pipe'],
    ...as,
  });
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    err = (err + chunk).slice(-STDERR_LIMIT);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (e) => {
      err += `\nspawn ${bin.postgres}: ${e.message}`;
      resolve();
    });
  });
  return { child, exited, stderr: () => err };
}

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Resolves once the server accepts a connection; rejects if it exits or the deadline passes. */
async function waitReady(run: Running, port: number): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  let last: unknown;
  for (;;) {
    if (!isRunning(run.child) || run.child.pid === undefined) {
      await Promise.race([run.exited, sleep(100)]);
      throw new Error(`postgres exited before accepting connections:\n${run.stderr()}`);
    }
    try {
      await withClient(urlFor(port, 'postgres'), (c) => c.query('select 1'));
      return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `postgres did not accept connections on ${HOST}:${port} within ${READY_DEADLINE_MS / 1000} s ` +
          `(last error: ${(last as Error)?.message}):\n${run.stderr()}`,
      );
    }
    await sleep(50);
  }
}

async function terminate(run: Running): Promise<void> {
  const { child } = run;
  child.ref();
  if (!isRunning(run.child)) return;
  child.kill('SIGINT'); // fast shutdown
  const timer = setTimeout(() => {
    if (isRunning(child)) child.kill('SIGKILL');
  }, STOP_GRACE_MS);
  await run.exited;
  clearTimeout(timer);
}

let serial = 0;

/** Starts a throwaway PostgreSQL server on 127.0.0.1; throws if PostgreSQL is not installed. */
export async function startPostgres(): Promise<PgServer> {
  const bin = findBinaries();
  const as = serverUser();
  const dir = await makeFolder(as);
  let run: Running | undefined;
  let port = 0;
  try {
    await initdb(bin, dir, as);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      run = launch(bin, dir, port, as);
      try {
        await waitReady(run, port);
        break;
      } catch (e) {
        await terminate(run);
        // Someone took the port between our probe and the server's bind: try another.
        if (attempt < 5 && /address already in use/i.test(run.stderr())) continue;
        throw e;
      }
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  const { child } = run;
  const pid = child.pid!;
  // A forgotten stop() must not keep the test process alive; the exit hook below still kills it.
  child.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  const onExit = () => {
    if (isRunning(child)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  };
  process.on('exit', onExit);

  let stopping: Promise<void> | undefined;
  const running = run;
  return {
    url: urlFor(port, 'postgres'),
    port,
    pid,
    directory: dir,
    async createDatabase(name?: string): Promise<string> {
      const db = name ?? `quarry_${process.pid}_${++serial}_${Math.random().toString(36).slice(2, 8)}`;
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(db)) throw new Error(`not a plain database name: ${db}`);
      await withClient(urlFor(port, 'postgres'), (c) => c.query(`CREATE DATABASE "${db}"`));
      return urlFor(port, db);
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        await terminate(running);
        process.removeListener('exit', onExit);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
