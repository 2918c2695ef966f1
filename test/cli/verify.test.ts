/** `quarry verify [--fix] [--json]`, run as a user runs it. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gemBlobKey } from '../../src/blobs/keys.ts';
import { composeServices } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { VerifyReport } from '../../src/services/verify.ts';
import { makeGem } from '../support/make-gem.ts';
import { runQuarry } from '../support/quarry.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('quarry verify', () => {
  let dir = '';
  const alpha = makeGem({ name: 'alpha', version: '1.0.0' });
  const beta = makeGem({ name: 'beta', version: '0.2.0', platform: 'x86_64-linux' });
  const orphan = randomBytes(256);
  const blob = (b: Buffer) => join(dir, 'blobs', gemBlobKey(sha(b)));
  // QUARRY_NOW is the injectable clock: an hour and more after the files were written.
  const later = () => new Date(Date.now() + 2 * 60 * 60 * 1000).toISOString();
  const verify = (args: string[], env: Record<string, string> = {}) =>
    runQuarry(['verify', '--data', dir, ...args], { env: { QUARRY_CATALOG: undefined, ...env } });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quarry-cli-verify-'));
    const config = loadConfig({ env: {}, flags: { data: dir, log: { level: 'silent' } } as never });
    const s = await composeServices(config, () => new Date(), { metricsDefaults: false });
    try {
      for (const g of [alpha, beta]) await s.gems.push(g, async () => null);
    } finally {
      await s.close();
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('exits 0 on a store that matches the catalog', () => {
    const r = verify([]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^checked 2 referenced blobs: 2 intact$/m);
    assert.match(r.stdout, /^0 orphans \(0 removed\), 0 temp files \(0 removed\)$/m);
    assert.equal(r.stderr, '');
  });

  it('names a missing blob (exit 1) and an orphan, and removes only the orphan, once it is an hour old', async () => {
    await rm(blob(alpha));
    await mkdir(dirname(blob(orphan)), { recursive: true });
    await writeFile(blob(orphan), orphan);
    const alphaKey = gemBlobKey(sha(alpha));
    const orphanKey = gemBlobKey(sha(orphan));

    const plain = verify([]);
    assert.equal(plain.status, 1, plain.stderr);
    assert.match(plain.stdout, /^checked 2 referenced blobs: 1 intact, 1 missing$/m);
    assert.ok(
      plain.stdout.includes(`missing: alpha-1.0.0.gem at ${alphaKey}: not in the blob store`),
      plain.stdout,
    );
    assert.ok(plain.stdout.includes(`orphan: ${orphanKey} (256 bytes, modified `), plain.stdout);
    assert.match(plain.stdout, /kept: run with --fix to remove it$/m);
    assert.equal(
      plain.stderr,
      `quarry: 1 referenced blob is missing or corrupt: alpha-1.0.0.gem (missing, ${alphaKey})\n`,
    );

    // A fresh orphan may be a push under way: --fix keeps it.
    const young = verify(['--fix']);
    assert.equal(young.status, 1);
    assert.match(young.stdout, /kept: younger than one hour$/m);
    assert.ok(existsSync(blob(orphan)));

    const fixed = verify(['--fix', '--json'], { QUARRY_NOW: later() });
    assert.equal(fixed.status, 1, fixed.stderr);
    const report = JSON.parse(fixed.stdout) as VerifyReport;
    assert.deepEqual(
      report.problems.map((p) => [p.kind, p.file, p.key]),
      [['missing', 'alpha-1.0.0.gem', alphaKey]],
    );
    assert.deepEqual(
      report.orphans.map((o) => [o.key, o.action]),
      [[orphanKey, 'removed']],
    );
    assert.match(fixed.stderr, /alpha-1\.0\.0\.gem/);
    assert.ok(!existsSync(blob(orphan)), 'the orphan is still there');
    assert.ok(existsSync(blob(beta)), 'a referenced blob was removed');

    // The missing blob is still reported; once it is back, verify is clean.
    const still = verify(['--fix'], { QUARRY_NOW: later() });
    assert.equal(still.status, 1);
    assert.ok(still.stdout.includes('missing: alpha-1.0.0.gem'));
    await writeFile(blob(alpha), alpha);
    const clean = verify(['--fix'], { QUARRY_NOW: later() });
    assert.equal(clean.status, 0, clean.stderr);
    assert.match(clean.stdout, /^checked 2 referenced blobs: 2 intact$/m);
  });

  it('names a corrupt blob by its file name', async () => {
    const bad = Buffer.from(beta);
    bad[10]! ^= 1;
    await writeFile(blob(beta), bad);
    try {
      const r = verify([]);
      assert.equal(r.status, 1);
      assert.ok(
        r.stdout.includes(
          `corrupt: beta-0.2.0-x86_64-linux.gem at ${gemBlobKey(sha(beta))}: sha256 ${sha(bad)} (${bad.length} bytes), expected ${sha(beta)}`,
        ),
        r.stdout,
      );
      assert.match(r.stderr, /beta-0\.2\.0-x86_64-linux\.gem \(corrupt,/);
    } finally {
      await writeFile(blob(beta), beta);
    }
  });

  it('lists its options in --help', () => {
    const r = runQuarry(['verify', '--help']);
    assert.equal(r.status, 0);
    for (const o of ['--fix', '--json', '--data', '--config']) assert.ok(r.stdout.includes(o), o);
  });
});
