#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/, then stamps dist/.quarry-build-ok with the time the build
// started. The tests' ensureBuilt() (test/support/quarry.ts) trusts that stamp: without it, the first
// test file of a run rebuilt dist/ while other files ran processes from it, and a process that
// loaded a file tsc was rewriting failed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.quarry-build-ok');
const started = new Date();
rmSync(stamp, { force: true });
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
mkdirSync(dirname(stamp), { recursive: true });
writeFileSync(stamp, '');
utimesSync(stamp, started, started);
