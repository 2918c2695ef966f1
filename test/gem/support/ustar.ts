/**
 * A tiny ustar writer for hand-made (and deliberately broken) tar files and `.gem` packages.
 * Headers follow PROTOCOL.md 1.1; every field can be overridden with raw bytes.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  name: string;
  data?: Buffer | string;
  /** Typeflag character; default "0". */
  type?: string;
  prefix?: string;
  linkname?: string;
  /** Overrides the size field's text (the real data is still written). */
  sizeField?: string;
  /** Raw replacements: byte offset in the header => bytes written there. */
  patch?: Record<number, Buffer | string>;
}

function put(header: Buffer, offset: number, length: number, value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.length > length) throw new Error(`field at ${offset} too long: ${bytes.length} > ${length}`);
  bytes.copy(header, offset);
}

const oct = (n: number, width: number): string => `${n.toString(8).padStart(width - 1, '0')}\0`;

/** One 512-byte header plus the data padded to whole blocks. */
export function tarEntry(e: RawEntry): Buffer {
  const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : (e.data ?? Buffer.alloc(0));
  const header = Buffer.alloc(512);
  put(header, 0, 100, e.name);
  put(header, 100, 8, oct(0o444, 8));
  put(header, 108, 8, oct(0, 8));
  put(header, 116, 8, oct(0, 8));
  put(header, 124, 12, e.sizeField ?? oct(data.length, 12));
  put(header, 136, 12, oct(1700000000, 12));
  put(header, 156, 1, e.type ?? '0');
  put(header, 157, 100, e.linkname ?? '');
  put(header, 257, 6, 'ustar\0');
  put(header, 263, 2, '00');
  put(header, 265, 32, 'wheel');
  put(header, 297, 32, 'wheel');
  put(header, 329, 8, oct(0, 8));
  put(header, 337, 8, oct(0, 8));
  put(header, 345, 155, e.prefix ?? '');
  for (const [offset, value] of Object.entries(e.patch ?? {})) put(header, Number(offset), 512, value);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  put(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return Buffer.concat([header, padded]);
}

/** A tar of the entries followed by two zero blocks (unless `trailer` is false). */
export function buildTar(entries: RawEntry[], trailer = true): Buffer {
  return Buffer.concat([...entries.map(tarEntry), trailer ? Buffer.alloc(1024) : Buffer.alloc(0)]);
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const sha512 = (b: Buffer): string => createHash('sha512').update(b).digest('hex');

/** A minimal valid gemspec YAML, as RubyGems 3.3 writes it; `fields` replaces lines by key. */
export function gemspecYaml(fields: Record<string, string> = {}): string {
  const base: Record<string, string> = {
    name: 'demo',
    version: '!ruby/object:Gem::Version\n  version: 1.0.0',
    platform: 'ruby',
    authors: '\n- Ann Author',
    date: '2023-11-14 00:00:00.000000000 Z',
    dependencies: '[]',
    metadata: '{}',
    require_paths: '\n- lib',
    rubygems_version: '3.3.15',
    specification_version: '4',
    summary: 'Demo gem',
    ...fields,
  };
  const lines = Object.entries(base)
    .filter(([, v]) => v !== '<omit>')
    .map(([k, v]) => (v.startsWith('\n') ? `${k}:${v}` : `${k}: ${v}`));
  return `--- !ruby/object:Gem::Specification\n${lines.join('\n')}\n`;
}

/** The data.tar.gz of a gem holding one small file. */
export const dataTarGz = (): Buffer => gzipSync(buildTar([{ name: 'lib/demo.rb', data: 'puts 1\n' }]));

export interface GemParts {
  metadata?: Buffer | null;
  data?: Buffer | null;
  /** checksums.yaml.gz: 'auto' (correct SHA256 + SHA512), null (absent), or the YAML text to gzip. */
  checksums?: 'auto' | null | string;
  /** Extra entries appended after the standard ones. */
  extra?: RawEntry[];
}

/** The checksums.yaml text RubyGems writes for these entries. */
export function checksumsYaml(entries: Record<string, Buffer>): string {
  const section = (algo: string, f: (b: Buffer) => string) =>
    `${algo}:\n${Object.entries(entries)
      .map(([n, b]) => `  ${n}: ${f(b)}\n`)
      .join('')}`;
  return `---\n${section('SHA256', sha256)}${section('SHA512', sha512)}`;
}

/** A `.gem` built from parts; every part defaults to a valid one. */
export function buildGem(parts: GemParts = {}): Buffer {
  const metadata = parts.metadata === undefined ? gzipSync(gemspecYaml()) : parts.metadata;
  const data = parts.data === undefined ? dataTarGz() : parts.data;
  const entries: RawEntry[] = [];
  const digested: Record<string, Buffer> = {};
  if (metadata) {
    entries.push({ name: 'metadata.gz', data: metadata });
    digested['metadata.gz'] = metadata;
  }
  if (data) {
    entries.push({ name: 'data.tar.gz', data });
    digested['data.tar.gz'] = data;
  }
  const checksums = parts.checksums === undefined ? 'auto' : parts.checksums;
  if (checksums !== null) {
    const text = checksums === 'auto' ? checksumsYaml(digested) : checksums;
    entries.push({ name: 'checksums.yaml.gz', data: gzipSync(text) });
  }
  entries.push(...(parts.extra ?? []));
  return buildTar(entries);
}

/** A gem whose metadata.gz is the gzip of `yaml`. */
export const gemWithYaml = (yaml: string): Buffer => buildGem({ metadata: gzipSync(yaml) });
