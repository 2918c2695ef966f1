/**
 * A reference point, not a gem server: the least work a Fastify route can do for GET /info/NAME,
 * answering from a Map filled at start with the saved /info files (no database, no hooks, no
 * metrics). It shows how many requests per second one Node process (or two, with node:cluster) can
 * serve on this machine while wrk shares the cores, i.e. what Quarry could reach at best.
 *
 *   node --import tsx bench/server/ceiling.ts --port P --root DIR [--workers N]
 */
import cluster from 'node:cluster';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = Number(arg('--port'));
const root = arg('--root');
const workers = Number(arg('--workers') ?? '1');
if (!Number.isInteger(port) || !root) throw new Error('usage: ceiling.ts --port P --root DIR [--workers N]');

async function serve(): Promise<void> {
  const infos = new Map<string, Buffer>();
  for (const name of readdirSync(join(root!, 'info')))
    infos.set(name, readFileSync(join(root!, 'info', name)));
  const app = Fastify({ logger: { level: 'warn' } });
  app.get<{ Params: { name: string } }>('/info/:name', async (req, reply) => {
    const body = infos.get(req.params.name);
    if (!body) return reply.code(404).send('not found\n');
    return reply.type('text/plain; charset=utf-8').header('Cache-Control', 'public, max-age=60').send(body);
  });
  await app.listen({ port, host: '127.0.0.1' });
}

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  const stopWorkers = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stopWorkers);
  process.on('SIGINT', stopWorkers);
} else {
  await serve();
}
