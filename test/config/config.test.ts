import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configFromEnv, loadConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import { QuarryError } from '../../src/errors.ts';

/** Every leaf key of the schema, dotted (arrays of objects as `key[].field`). */
function leafKeys(shape: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(shape)) {
    let t = v as {
      def?: { innerType?: unknown; type?: string; element?: unknown; shape?: unknown };
      shape?: Record<string, unknown>;
    };
    // unwrap default/nullable wrappers
    while (t?.def?.innerType) t = t.def.innerType as typeof t;
    const name = `${prefix}${k}`;
    if (t?.def?.type === 'object' && t.shape) out.push(...leafKeys(t.shape, `${name}.`));
    else if (t?.def?.type === 'array') {
      let el = t.def.element as typeof t;
      while (el?.def?.innerType) el = el.def.innerType as typeof t;
      out.push(name);
      if (el?.def?.type === 'object' && el.shape) out.push(...leafKeys(el.shape, `${name}[].`));
    } else out.push(name);
  }
  return out;
}

const configError = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof QuarryError && e.code === 'config', String(e));
    return e.message;
  }
  assert.fail('expected a config error');
};

describe('configuration', () => {
  it('runs on defaults with no file, no environment and no flags', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.port, 9292);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.data, './quarry-data');
    assert.equal(c.auth.protected_reads, false);
    assert.equal(c.testing.hooks, false);
  });

  it('documents every key in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const keys = leafKeys(configSchema.shape as Record<string, unknown>);
    assert.ok(keys.length >= 10, keys.join(','));
    for (const k of keys) {
      const shown = k.replace('[].', '[].');
      assert.ok(
        doc.includes(`\`${shown}\``) || doc.includes(`\`${k.split('[]')[0]}\``),
        `docs/configuration.md lacks ${k}`,
      );
    }
  });

  it('layers file < environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'quarry-config-'));
    try {
      const file = join(dir, 'quarry.yaml');
      writeFileSync(file, 'port: 1000\nhost: 127.0.0.1\nlimits:\n  body_bytes: 5000\n');
      const c = loadConfig({
        file,
        env: { QUARRY_PORT: '2000', QUARRY_LIMITS__REQUEST_TIMEOUT_MS: '10' },
        flags: { port: 3000 },
      });
      assert.equal(c.port, 3000);
      assert.equal(c.host, '127.0.0.1');
      assert.equal(c.limits.body_bytes, 5000);
      assert.equal(c.limits.request_timeout_ms, 10);
      assert.equal(loadConfig({ file, env: { QUARRY_PORT: '2000' } }).port, 2000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads nested environment keys and keeps strings as strings', () => {
    assert.deepEqual(
      configFromEnv({
        QUARRY_AUTH__PROTECTED_READS: 'true',
        QUARRY_DATA: '123',
        OTHER: 'x',
        QUARRY_NOW: 'x',
      }),
      {
        auth: { protected_reads: true },
        data: '123',
      },
    );
  });

  it('stops on an unknown key or a bad value, naming it and where it came from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'quarry-config-'));
    try {
      const file = join(dir, 'quarry.yaml');
      writeFileSync(file, 'prot: 1\n');
      assert.match(
        configError(() => loadConfig({ file, env: {} })),
        /quarry\.yaml: unknown key prot/,
      );
      writeFileSync(file, 'limits:\n  body_byte: 1\n');
      assert.match(
        configError(() => loadConfig({ file, env: {} })),
        /unknown key limits\.body_byte/,
      );
      writeFileSync(file, 'port: 70000\n');
      assert.match(
        configError(() => loadConfig({ file, env: {} })),
        /quarry\.yaml: port:/,
      );
      writeFileSync(file, '- a list\n');
      assert.match(
        configError(() => loadConfig({ file, env: {} })),
        /must hold a mapping/,
      );
      writeFileSync(file, 'port: [1\n');
      assert.match(
        configError(() => loadConfig({ file, env: {} })),
        /not valid YAML/,
      );
      assert.match(
        configError(() => loadConfig({ env: { QUARRY_PROT: '1' } })),
        /environment: unknown key prot/,
      );
      assert.match(
        configError(() => loadConfig({ env: { QUARRY_PORT: 'abc' } })),
        /environment: port:/,
      );
      assert.match(
        configError(() => loadConfig({ env: {}, flags: { log: { level: 'loud' } } })),
        /flags: log\.level:/,
      );
      assert.match(
        configError(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })),
        /cannot read config file/,
      );
      assert.match(
        configError(() =>
          loadConfig({ env: {}, flags: { auth: { users: [{ name: 'a', password_hash: 'plain' }] } } }),
        ),
        /auth\.users\.0\.password_hash/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
