#!/usr/bin/env node
// Runs the property-based fuzz tests (test/fuzz/*.test.ts) with many more cases than CI does:
// FUZZ_RUNS per property (default 100000). CI runs the same properties a few thousand times each.
//   node scripts/fuzz.mjs                      # every fuzz file, 100000 runs per property
//   FUZZ_RUNS=1000000 node scripts/fuzz.mjs --only yaml
//   FUZZ_SEED=-123 node scripts/fuzz.mjs --only marshal   # replay the seed a failure printed
// Other arguments are passed to node's test runner.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const only = [];
for (let at = argv.indexOf('--only'); at >= 0; at = argv.indexOf('--only')) only.push(argv.splice(at, 2)[1]);
const files = readdirSync(join(root, 'test', 'fuzz'))
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .map((f) => join('test', 'fuzz', f))
  .sort();
if (files.length === 0) {
  process.stderr.write('no fuzz files found\n');
  process.exit(1);
}
const runs = process.env.FUZZ_RUNS ?? '100000';
process.stderr.write(`fuzz: ${files.length} files, ${runs} runs per property\n`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...argv, ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: runs },
});
process.exit(r.status ?? 1);
