#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner (Node 20 has no glob support in --test).
// Extra arguments are passed to the runner; `--only PART` (repeatable) keeps the files whose path has PART.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const only = [];
for (let at = argv.indexOf('--only'); at >= 0; at = argv.indexOf('--only')) only.push(argv.splice(at, 2)[1]);
const files = readdirSync(join(root, 'test'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.ts') && !f.split('/').some((p) => p.startsWith('.')))
  .map((f) => relative(root, join(root, 'test', f)))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
if (files.length === 0) {
  process.stderr.write('no test files found\n');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...argv, ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
