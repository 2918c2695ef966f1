import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  infoBody,
  infoLine,
  md5Hex,
  namesBody,
  versionsBody,
  versionsCreatedAt,
  versionsLine,
} from '../../src/index/compact.ts';
import type { IndexEntry } from '../../src/index/entry.ts';

const any: IndexEntry['requiredRubyVersion'] = [{ op: '>=', version: '0' }];

const entry = (over: Partial<IndexEntry>): IndexEntry => ({
  name: 'beta',
  version: '0.1.0',
  platform: 'ruby',
  sha256: '6812672bfaaa85deb404c216ae75652e5971fff099e8e3fae0f428cbed96c027',
  dependencies: [],
  requiredRubyVersion: any,
  requiredRubygemsVersion: any,
  ...over,
});

// Lines and digests from the real request traces in shared/PROTOCOL.md 5.3 and 5.8 (served to Bundler).
const betaV1 = entry({
  dependencies: [
    {
      name: 'alpha',
      requirement: [
        { op: '>=', version: '1.0' },
        { op: '<', version: '2' },
      ],
    },
  ],
});
const betaRc = entry({
  version: '0.2.0.rc1',
  sha256: 'e231cea8b3bd10e49191566bb616bd3d2296f48b96d4c4d9c22813f6740490f5',
  dependencies: [{ name: 'alpha', requirement: [{ op: '~>', version: '1.1' }] }],
  requiredRubygemsVersion: [{ op: '>', version: '1.3.1' }],
});

describe('compact index info', () => {
  it('joins multiple constraints sorted as strings with &', () => {
    assert.equal(
      infoLine(betaV1),
      '0.1.0 alpha:< 2&>= 1.0|checksum:6812672bfaaa85deb404c216ae75652e5971fff099e8e3fae0f428cbed96c027',
    );
  });

  it('adds rubygems: only when it is not >= 0', () => {
    assert.equal(
      infoLine(betaRc),
      '0.2.0.rc1 alpha:~> 1.1|checksum:e231cea8b3bd10e49191566bb616bd3d2296f48b96d4c4d9c22813f6740490f5,rubygems:> 1.3.1',
    );
  });

  it('gives the body whose MD5 a real /versions line carried', () => {
    const body = infoBody([betaV1, betaRc]);
    assert.equal(Buffer.byteLength(body), 215);
    assert.equal(md5Hex(body), '9d57c70519fce314cbdf71628d92bafc');
  });

  it('keeps a single space before | when there are no dependencies', () => {
    assert.equal(
      infoLine(entry({ version: '0.9', sha256: 'ab'.repeat(32) })),
      `0.9 |checksum:${'ab'.repeat(32)}`,
    );
  });

  it('writes the platform after the version and sorts dependencies by name', () => {
    const line = infoLine(
      entry({
        version: '1.1.0',
        platform: 'x86_64-linux',
        sha256: 'cd'.repeat(32),
        dependencies: [
          { name: 'zlib', requirement: [{ op: '>=', version: '0' }] },
          { name: 'aaab', requirement: [{ op: '~>', version: '0.2' }] },
          { name: 'aaab', requirement: [{ op: '>=', version: '0' }] },
        ],
        requiredRubyVersion: [
          { op: '<', version: '4' },
          { op: '>=', version: '2.7' },
        ],
      }),
    );
    assert.equal(
      line,
      `1.1.0-x86_64-linux aaab:~> 0.2,aaab:>= 0,zlib:>= 0|checksum:${'cd'.repeat(32)},ruby:< 4&>= 2.7`,
    );
  });

  it('adds the v2 created_at key only when asked', () => {
    const e = entry({ version: '1.0.0', sha256: 'ef'.repeat(32), createdAt: '2026-05-01T12:00:00Z' });
    assert.equal(infoLine(e), `1.0.0 |checksum:${'ef'.repeat(32)}`);
    assert.equal(
      infoLine(e, { createdAt: true }),
      `1.0.0 |checksum:${'ef'.repeat(32)},created_at:2026-05-01T12:00:00Z`,
    );
  });
});

describe('compact index names and versions', () => {
  it('lists names in byte order with the --- header', () => {
    assert.equal(namesBody(['beta', 'Zeta', 'alpha', 'beta']), '---\nZeta\nalpha\nbeta\n');
    assert.equal(namesBody([]), '---\n\n');
  });

  it('writes a base file sorted by name, with the created_at header', () => {
    const body = versionsBody(new Date('2024-01-01T00:00:00.000Z'), [
      { name: 'beta', tokens: ['0.1.0', '0.2.0.rc1'], infoMd5: '9d57c70519fce314cbdf71628d92bafc' },
      { name: 'Zeta', tokens: ['1.0'], infoMd5: '246b0d689976b3fc93a629c8765e7815' },
    ]);
    assert.equal(
      body,
      'created_at: 2024-01-01T00:00:00Z\n---\nZeta 1.0 246b0d689976b3fc93a629c8765e7815\nbeta 0.1.0,0.2.0.rc1 9d57c70519fce314cbdf71628d92bafc\n',
    );
    assert.equal(versionsCreatedAt(body), '2024-01-01T00:00:00Z');
  });

  it('writes yank lines with a leading -', () => {
    assert.equal(
      versionsLine({ name: 'alpha', tokens: ['-1.1.0-java'], infoMd5: 'f'.repeat(32) }),
      `alpha -1.1.0-java ${'f'.repeat(32)}\n`,
    );
  });
});
