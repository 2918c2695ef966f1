/**
 * Builds small, valid .gem files in TypeScript for server tests that need many distinct gems
 * quickly. The YAML follows what RubyGems 3.3 writes (PROTOCOL.md 1.2); real-client tests use
 * gems built by Ruby instead.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface GemOptions {
  name: string;
  version: string;
  platform?: string;
  summary?: string;
  deps?: [name: string, ...constraints: string[]][];
  devDeps?: [name: string, ...constraints: string[]][];
  requiredRuby?: string[];
  description?: string;
  /** Authors (default: Test Author). */
  authors?: string[];
  /** spec.metadata (default: none). */
  metadata?: Record<string, string>;
  /** spec.homepage (default: https://example.com). */
  homepage?: string;
  /** Extra bytes stored (uncompressible) in data.tar.gz as data/blob.bin, for large gems. */
  payload?: Buffer;
}

function header(name: string, size: number, mode = 0o444): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write(`${(1700000000).toString(8).padStart(11, '0')}\0`, 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write('wheel', 265);
  h.write('wheel', 297);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** A ustar archive of the given entries, ended by two zero blocks. */
export function tar(entries: [name: string, body: Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, body] of entries) {
    parts.push(header(name, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const q = (s: string): string => (/^[0-9.]+$/.test(s) ? `'${s}'` : s);

function requirementYaml(constraints: string[], indent: string): string {
  const list = constraints.length > 0 ? constraints : ['>= 0'];
  let y = `${indent}requirements:\n`;
  for (const c of list) {
    const [op, v] = c.includes(' ') ? c.split(/\s+/) : ['=', c];
    y += `${indent}- - "${op}"\n${indent}  - !ruby/object:Gem::Version\n${indent}    version: ${q(v!)}\n`;
  }
  return y;
}

function depYaml(name: string, constraints: string[], type: 'runtime' | 'development'): string {
  return (
    `- !ruby/object:Gem::Dependency\n  name: ${name}\n  requirement: !ruby/object:Gem::Requirement\n${requirementYaml(constraints, '    ')}` +
    `  type: :${type}\n  prerelease: false\n  version_requirements: !ruby/object:Gem::Requirement\n${requirementYaml(constraints, '    ')}`
  );
}

/** A YAML scalar as Psych writes it: plain when that reads back the same, else double-quoted. */
const plain = (v: string): string =>
  /^[A-Za-z][A-Za-z0-9 ./:_-]*$/.test(v) && !/: |\s$/.test(v) ? v : JSON.stringify(v);

export function gemspecYaml(o: GemOptions): string {
  const deps = [
    ...(o.deps ?? []).map(([n, ...c]) => depYaml(n, c, 'runtime')),
    ...(o.devDeps ?? []).map(([n, ...c]) => depYaml(n, c, 'development')),
  ];
  return `--- !ruby/object:Gem::Specification
name: ${o.name}
version: !ruby/object:Gem::Version
  version: ${q(o.version)}
platform: ${o.platform ?? 'ruby'}
authors:
${(o.authors ?? ['Test Author']).map((a) => `- ${plain(a)}\n`).join('')}autorequire:
bindir: bin
cert_chain: []
date: 2023-11-14 00:00:00.000000000 Z
dependencies:${deps.length === 0 ? ' []\n' : `\n${deps.join('')}`}description:${o.description === undefined ? '' : ` ${JSON.stringify(o.description)}`}
email: test@example.com
executables: []
extensions: []
extra_rdoc_files: []
files:
- lib/${o.name}.rb
homepage: ${plain(o.homepage ?? 'https://example.com')}
licenses:
- MIT
metadata:${
    o.metadata && Object.keys(o.metadata).length > 0
      ? `\n${Object.entries(o.metadata)
          .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}\n`)
          .join('')}`
      : ' {}\n'
  }post_install_message:
rdoc_options: []
require_paths:
- lib
required_ruby_version: !ruby/object:Gem::Requirement
${requirementYaml(o.requiredRuby ?? [], '  ')}required_rubygems_version: !ruby/object:Gem::Requirement
${requirementYaml(/[a-zA-Z]/.test(o.version) ? ['> 1.3.1'] : [], '  ')}requirements: []
rubygems_version: 3.3.15
signing_key:
specification_version: 4
summary: ${JSON.stringify(o.summary ?? `The ${o.name} gem`)}
test_files: []
`;
}

export function makeGem(o: GemOptions): Buffer {
  const metadata = gzipSync(gemspecYaml(o), { level: 9 });
  const files: [string, Buffer][] = [
    [`lib/${o.name}.rb`, Buffer.from(`module Gem${o.name.replace(/\W/g, '')}; end\n`)],
  ];
  if (o.payload) files.push(['data/blob.bin', o.payload]);
  const data = gzipSync(tar(files), { level: o.payload ? 1 : 9 });
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const checksums = gzipSync(`---\nSHA256:\n  metadata.gz: ${sha(metadata)}\n  data.tar.gz: ${sha(data)}\n`, {
    level: 9,
  });
  return tar([
    ['metadata.gz', metadata],
    ['data.tar.gz', data],
    ['checksums.yaml.gz', checksums],
  ]);
}
