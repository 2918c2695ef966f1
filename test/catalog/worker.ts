/**
 * A child process that acts on a catalog for the conformance suite: `node --import tsx worker.ts`.
 * It reads one JSON request per line on stdin and answers one JSON line on stdout (see Request in
 * fixtures.ts): open a catalog by URL, call any Catalog method, run a write plan, or poll the
 * /versions log until told to stop. Requests run concurrently; answers carry the request's id.
 */
import { createInterface } from 'node:readline';
import { openCatalog } from '../../src/catalog/open.ts';
import type { Catalog } from '../../src/catalog/types.ts';
import type { Request } from './fixtures.ts';
import { decode, encode, INFO, runPlan, startReader, toWireError } from './fixtures.ts';

const catalogs = new Map<number, Catalog>();
const readers = new Map<number, ReturnType<typeof startReader>>();
let handles = 0;

const catalogOf = (handle: number): Catalog => {
  const c = catalogs.get(handle);
  if (!c) throw new Error(`no open catalog ${handle}`);
  return c;
};

async function answer(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'open': {
      const c = await openCatalog(req.url, () => new Date(), INFO);
      catalogs.set(++handles, c);
      return handles;
    }
    case 'call': {
      const c = catalogOf(req.handle) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const fn = c[req.method];
      if (typeof fn !== 'function') throw new Error(`no catalog method ${req.method}`);
      return (await fn.apply(c, req.args)) ?? null;
    }
    case 'close': {
      await readers.get(req.handle)?.stop();
      readers.delete(req.handle);
      await catalogOf(req.handle).close();
      catalogs.delete(req.handle);
      return null;
    }
    case 'run':
      return runPlan(catalogOf(req.handle), req.agent, req.ops, req.limit);
    case 'startReader':
      readers.set(req.handle, startReader(catalogOf(req.handle)));
      return null;
    case 'stopReader': {
      const r = readers.get(req.handle);
      if (!r) throw new Error('no reader');
      readers.delete(req.handle);
      return r.stop();
    }
  }
}

const send = (msg: unknown) => process.stdout.write(`${encode(msg)}\n`);

const lines = createInterface({ input: process.stdin });
const pending = new Set<Promise<unknown>>();
lines.on('line', (line) => {
  const { id, ...req } = decode(line) as Request & { id: number };
  const p = answer(req as Request).then(
    (value) => send({ id, ok: true, value }),
    (e) => send({ id, ok: false, error: toWireError(e) }),
  );
  pending.add(p);
  void p.finally(() => pending.delete(p));
});
// The test process closing our stdin is the signal to finish.
lines.on('close', async () => {
  await Promise.allSettled([...pending]);
  for (const c of catalogs.values()) await c.close().catch(() => {});
  process.exit(0);
});
send({ id: 0, ok: true, value: 'ready' });
