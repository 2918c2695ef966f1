/**
 * Another process writing to a shared catalog, for multi-node tests of a single node's view: a
 * forked child (catalog-writer-child.ts) with its own catalog connection, pushing gems on request.
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./catalog-writer-child.ts', import.meta.url));

export interface CatalogWriter {
  pid: number;
  /** Pushes name-version (a gem built by make-gem.ts) in the child; resolves once it committed. */
  push(name: string, version: string): Promise<string>;
  /** Disconnects and waits for the child to exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

type Reply = { ready: true } | { id: number; message?: string; error?: string };

/** Forks the writer on the catalog at url (sqlite:PATH or postgres://…) and waits until it is ready. */
export async function startCatalogWriter(url: string): Promise<CatalogWriter> {
  const child: ChildProcess = fork(CHILD, [url], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pending = new Map<number, { resolve: (m: string) => void; reject: (e: Error) => void }>();
  let ready: () => void;
  let failed: (e: Error) => void;
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  child.on('message', (m: Reply) => {
    if ('ready' in m) return ready();
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(`the writer process failed: ${m.error}`));
    else p?.resolve(m.message ?? '');
  });
  child.once('exit', (code, signal) => {
    const e = new Error(`the writer process exited (${signal ?? code})`);
    failed(e);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  });
  await started;
  let next = 0;
  return {
    pid: child.pid!,
    push(name, version) {
      const id = ++next;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, name, version });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.disconnect();
      await exited;
      clearTimeout(timer);
    },
  };
}
