/**
 * The compact index parsers read back what compact.ts writes, byte for byte, and what RubyGems
 * wrote for the golden fixtures; malformed bodies fail with a QuarryError('invalid_index') that
 * names the line.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { QuarryError } from '../../src/errors.ts';
import { readGem } from '../../src/gem/package.ts';
import { infoBody, infoLine, md5Hex, versionsBody, versionsLine } from '../../src/index/compact.ts';
import { liveVersions, parseInfoFile, parseVersionsFile } from '../../src/index/compact-parse.ts';
import { entryFromSpec } from '../../src/index/entry.ts';
import { makeGem } from '../support/make-gem.ts';

const GOLDEN = fileURLToPath(new URL('../fixtures/golden/', import.meta.url));

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof QuarryError, String(e));
    assert.equal(e.code, 'invalid_index');
    assert.match(e.message, message);
    return true;
  });
}

describe('parseVersionsFile', () => {
  it('reads the golden /versions files, and each line formats back to its bytes', () => {
    for (const scenario of ['expected', 'expected-update', 'expected-yank']) {
      const body = readFileSync(`${GOLDEN}${scenario}/versions`, 'utf8');
      const parsed = parseVersionsFile(body);
      assert.equal(parsed.createdAt, '2024-01-01T00:00:00Z');
      assert.equal(body.slice(0, parsed.bodyStart), 'created_at: 2024-01-01T00:00:00Z\n---\n');
      assert.equal(body.slice(parsed.bodyStart), parsed.lines.map(versionsLine).join(''), scenario);
      // Every name's last MD5 is the MD5 of its info file.
      for (const [name, { infoMd5, tokens }] of liveVersions(parsed)) {
        const info = readFileSync(`${GOLDEN}${scenario}/info/${name}`);
        assert.equal(md5Hex(info), infoMd5, `${scenario} ${name}`);
        assert.deepEqual(
          parseInfoFile(info, name)
            .map((l) => l.token)
            .sort(),
          [...tokens].sort(),
          `${scenario} ${name}`,
        );
      }
    }
  });

  it('reads what versionsBody writes, lines and header', () => {
    const lines = [
      { name: 'b', tokens: ['1.0', '2.0-java'], infoMd5: 'a'.repeat(32) },
      { name: 'a', tokens: ['0.1'], infoMd5: 'b'.repeat(32) },
    ];
    const body = versionsBody(new Date(Date.UTC(2024, 5, 1, 12)), lines);
    const parsed = parseVersionsFile(Buffer.from(body));
    assert.equal(parsed.createdAt, '2024-06-01T12:00:00Z');
    assert.deepEqual(parsed.lines, [lines[1], lines[0]]);
    // Appended lines, yanks included, follow in file order.
    const more = `${body}a -0.1,0.2 ${'c'.repeat(32)}\n`;
    const live = liveVersions(parseVersionsFile(more));
    assert.deepEqual(live.get('a'), { tokens: ['0.2'], infoMd5: 'c'.repeat(32) });
    assert.deepEqual(live.get('b'), { tokens: ['1.0', '2.0-java'], infoMd5: 'a'.repeat(32) });
  });

  it('refuses malformed bodies, naming the line', () => {
    const ok = `created_at: 2024-01-01T00:00:00Z\n---\na 1.0 ${'a'.repeat(32)}\n`;
    parseVersionsFile(ok);
    rejects(() => parseVersionsFile(''), /empty/);
    rejects(() => parseVersionsFile(ok.slice(0, -1)), /does not end with a newline/);
    rejects(() => parseVersionsFile('created_at: x\na 1.0 abc\n'), /no "---" line/);
    rejects(() => parseVersionsFile(ok.replace('created_at: ', 'created_at ')), /line 1: header line/);
    rejects(() => parseVersionsFile(ok.replace(' 1.0 ', ' 1.0  ')), /line 3: expected "NAME VERSIONS MD5"/);
    rejects(() => parseVersionsFile(ok.replace('a'.repeat(32), 'A'.repeat(32))), /line 3: bad info MD5/);
    rejects(() => parseVersionsFile(ok.replace('1.0', '1.0,,2')), /line 3: bad version token ""/);
    rejects(() => parseVersionsFile(ok.replace('\n---\n', '\r\n---\n')), /line 1: carriage return/);
    rejects(() => parseVersionsFile(Buffer.from([0x2d, 0x2d, 0x2d, 0x0a, 0xff, 0x0a])), /not valid UTF-8/);
  });
});

describe('parseInfoFile', () => {
  it('reads the golden /info files, and each line formats back to its bytes', () => {
    for (const scenario of ['expected', 'expected-update', 'expected-yank']) {
      for (const name of readdirSync(`${GOLDEN}${scenario}/info`)) {
        const body = readFileSync(`${GOLDEN}${scenario}/info/${name}`, 'utf8');
        const lines = parseInfoFile(body, name);
        const back = lines.map((l) => {
          const deps = l.dependencies.map((d) => `${d.name}:${d.requirements.join('&')}`).join(',');
          const reqs = [
            `checksum:${l.checksum}`,
            ...(l.ruby.length > 0 ? [`ruby:${l.ruby.join('&')}`] : []),
            ...(l.rubygems.length > 0 ? [`rubygems:${l.rubygems.join('&')}`] : []),
          ];
          return `${l.token} ${deps}|${reqs.join(',')}\n`;
        });
        assert.equal(`---\n${back.join('')}`, body, `${scenario}/info/${name}`);
      }
    }
  });

  it('reads what infoLine writes: version, platform, dependencies, requirements, created_at', () => {
    const spec = readGem(
      makeGem({
        name: 'x',
        version: '2.0.0.rc1',
        platform: 'x86_64-linux',
        deps: [
          ['rack', '>= 1.0', '< 3'],
          ['json', '~> 2.0'],
        ],
        devDeps: [['rake', '~> 13.0']],
        requiredRuby: ['>= 2.7'],
      }),
    ).spec;
    const entry = entryFromSpec(spec, 'f'.repeat(64), '2024-02-03T04:05:06Z');
    const [line] = parseInfoFile(infoBody([entry], { createdAt: true }), 'x');
    assert.deepEqual(line, {
      token: '2.0.0.rc1-x86_64-linux',
      version: '2.0.0.rc1',
      platform: 'x86_64-linux',
      dependencies: [
        { name: 'json', requirements: ['~> 2.0'] },
        { name: 'rack', requirements: ['< 3', '>= 1.0'] },
      ],
      checksum: 'f'.repeat(64),
      ruby: ['>= 2.7'],
      rubygems: ['> 1.3.1'],
      createdAt: '2024-02-03T04:05:06Z',
      extra: [],
    });
    assert.equal(parseInfoFile(`---\n${infoLine(entry)}\n`)[0]!.createdAt, undefined);
    // An info body with no versions left (every version yanked).
    assert.deepEqual(parseInfoFile('---\n'), []);
    // Keys it does not know are kept.
    assert.deepEqual(parseInfoFile(`---\n1.0 |checksum:${'a'.repeat(64)},future:1\n`)[0]!.extra, [
      ['future', '1'],
    ]);
  });

  it('refuses malformed bodies, naming the file and line', () => {
    const sum = `checksum:${'a'.repeat(64)}`;
    rejects(() => parseInfoFile(`1.0 |${sum}\n`, 'x'), /info\/x line 1: expected "---"/);
    rejects(() => parseInfoFile(`---\n1.0|${sum}\n`, 'x'), /info\/x line 2: expected "VERSION DEPS/);
    rejects(() => parseInfoFile(`---\n1.0 ${sum}\n`), /line 2: expected one "\|"/);
    rejects(() => parseInfoFile(`---\n1.0 a|b|${sum}\n`), /line 2: expected one "\|"/);
    rejects(() => parseInfoFile(`---\n1.0 rack|${sum}\n`), /line 2: bad dependency "rack"/);
    rejects(() => parseInfoFile(`---\n1.0 rack:>=1|${sum}\n`), /line 2: bad requirement ">=1" in rack/);
    rejects(() => parseInfoFile(`---\n1.0 |checksum:abc\n`), /line 2: bad checksum "abc"/);
    rejects(() => parseInfoFile(`---\n1.0 |${sum},${sum}\n`), /line 2: "checksum" given twice/);
    rejects(() => parseInfoFile(`---\n1.0- |${sum}\n`), /line 2: empty platform/);
    rejects(() => parseInfoFile(`---\n-1.0 |${sum}\n`), /line 2: bad version token "-1\.0"/);
  });
});
