/**
 * Agents act on a catalog: in this process (a Catalog object), or in a worker process that opened
 * the same catalog by URL (worker.ts). The suite drives both the same way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Catalog } from '../../src/catalog/types.ts';
import type { Op, OpResult, ReaderReport, Request, WireError } from './fixtures.ts';
import { decode, encode, fromWireError, runPlan, startReader } from './fixtures.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/** A catalog an agent holds, with the plan runner and log reader next to it. */
export interface AgentCatalog {
  catalog: Catalog;
  run(agent: number, ops: Op[], limit: number): Promise<OpResult[]>;
  startReader(): Promise<void>;
  stopReader(): Promise<ReaderReport>;
  close(): Promise<void>;
}

/** An in-process agent over a catalog it does not own (close leaves the catalog open). */
export function localAgent(c: Catalog): AgentCatalog {
  let reader: ReturnType<typeof startReader> | undefined;
  return {
    catalog: c,
    run: (agent, ops, limit) => runPlan(c, agent, ops, limit),
    async startReader() {
      reader = startReader(c);
    },
    async stopReader() {
      if (!reader) throw new Error('no reader');
      const r = reader;
      reader = undefined;
      return r.stop();
    },
    async close() {
      await reader?.stop();
    },
  };
}

interface Answer {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: WireError;
}

/** A worker process (worker.ts): `node --import tsx worker.ts`, one JSON request per line. */
export class WorkerProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private stderr = '';
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-16_384);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const a = decode(line) as Answer;
      const w = this.waiting.get(a.id);
      if (!w) return;
      this.waiting.delete(a.id);
      if (a.ok) w.resolve(a.value);
      else w.reject(fromWireError(a.error!));
    });
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        const e = new Error(`catalog worker ${child.pid} exited (${code ?? signal}):\n${this.stderr}`);
        for (const w of this.waiting.values()) w.reject(e);
        this.waiting.clear();
        resolve();
      });
    });
  }

  /** Starts a worker and waits until it reads requests. */
  static async start(): Promise<WorkerProcess> {
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'worker.ts')], {
      cwd: root,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const w = new WorkerProcess(child);
    const ready = new Promise<unknown>((resolve, reject) => w.waiting.set(0, { resolve, reject }));
    await ready;
    return w;
  }

  get pid(): number {
    return this.child.pid!;
  }

  request(req: Request): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`catalog worker exited:\n${this.stderr}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.stdin!.write(`${encode({ id, ...req })}\n`);
    });
  }

  /** Opens the catalog at url in the worker. */
  async open(url: string): Promise<AgentCatalog> {
    const handle = (await this.request({ op: 'open', url })) as number;
    const catalog = new Proxy({} as Catalog, {
      get: (_t, method) => {
        if (typeof method !== 'string' || method === 'then') return undefined;
        return (...args: unknown[]) => this.request({ op: 'call', handle, method, args });
      },
    });
    return {
      catalog,
      run: (agent, ops, limit) =>
        this.request({ op: 'run', handle, agent, ops, limit }) as Promise<OpResult[]>,
      startReader: async () => {
        await this.request({ op: 'startReader', handle });
      },
      stopReader: () => this.request({ op: 'stopReader', handle }) as Promise<ReaderReport>,
      close: async () => {
        await this.request({ op: 'close', handle });
      },
    };
  }

  /** Closes its stdin (it closes its catalogs and exits); kills it after 10 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(timer);
  }
}
