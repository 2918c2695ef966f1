#!/usr/bin/env node
/**
 * The quarry command line (program.ts). `mirror` and `import` run it on a worker thread with a small
 * young generation: V8 gives the main thread's young generation up to 32 MB, sized once when the
 * process starts (no flag set while running changes it), and a mirror's steady flow of short-lived
 * objects fills it. On a worker with 8 MB, a mirror of 190,000 gems peaks about 20 MiB lower, at
 * the same speed (docs/benchmarks.md, "Mirror"). Every other command runs on the main thread.
 */
import { isMainThread, Worker } from 'node:worker_threads';
import { tsxImport } from '../util/worker-boot.ts';

const ON_WORKER = new Set(['mirror', 'import']);
const YOUNG_GENERATION_MB = 8;

const fromSource = import.meta.url.endsWith('.ts');
const program = new URL(fromSource ? './program.ts' : './program.js', import.meta.url);

if (isMainThread && ON_WORKER.has(process.argv[2] ?? '')) {
  const options = {
    argv: process.argv.slice(2),
    workerData: {
      quarryTty: {
        stdout: process.stdout.isTTY === true,
        stderr: process.stderr.isTTY === true,
        columns: process.stdout.columns,
      },
    },
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  };
  const boot = fromSource ? tsxImport(program) : '';
  const worker = fromSource ? new Worker(boot, { ...options, eval: true }) : new Worker(program, options);
  let failed = false;
  worker.on('error', (e) => {
    failed = true;
    process.stderr.write(`quarry: unexpected error: ${e.stack ?? e}\n`);
    process.exitCode = 70;
  });
  worker.on('exit', (code) => {
    if (!failed) process.exitCode = code;
  });
} else {
  await import(program.href);
}
