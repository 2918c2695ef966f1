/** Admin verbs over the server's catalog: keys, unyank, yank, rebuild, users. */
import type { Command } from 'commander';
import type { Services } from '../compose.ts';
import { clockFromEnv } from '../config/clock.ts';
import { QuarryError } from '../errors.ts';
import { parseScopes } from '../services/keys.ts';
import { hashPassword } from '../services/users.ts';
import type { CommonOptions } from './common.ts';
import { configFrom, withCommon } from './common.ts';

async function withServices<T>(opts: CommonOptions, fn: (s: Services) => Promise<T>): Promise<T> {
  const { composeServices } = await import('../compose.ts');
  const s = await composeServices(await configFrom(opts), clockFromEnv(process.env), {
    metricsDefaults: false,
  });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function registerAdmin(program: Command): void {
  const keys = program.command('keys').description('manage API keys');
  withCommon(keys.command('create'))
    .description('create an API key; the key is printed alone on the last line')
    .requiredOption('--scopes <list>', 'comma-separated: push, yank, read')
    .option('--gems <pattern>', 'limit to gem names matching this glob (e.g. "acme-*")')
    .option('--expires <when>', 'expiry: 30d, 12h, 45m, or a date')
    .option('--name <name>', 'a label for the key', 'cli')
    .option('--json', 'print JSON')
    .action(
      async (
        opts: CommonOptions & {
          scopes: string;
          gems?: string;
          expires?: string;
          name: string;
          json?: boolean;
        },
      ) => {
        const scopes = parseScopes(opts.scopes);
        await withServices(opts, async (s) => {
          const { key, record } = await s.keys.create({
            name: opts.name,
            scopes,
            gemPattern: opts.gems ?? null,
            expires: opts.expires ?? null,
          });
          if (opts.json) return print(JSON.stringify({ ...record, key }));
          process.stderr.write(
            `created key ${record.id} (${record.name}) with scopes ${record.scopes.join(',')}\n`,
          );
          print(key);
        });
      },
    );
  withCommon(keys.command('list'))
    .description('list API keys (never the keys themselves)')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOptions & { json?: boolean }) => {
      await withServices(opts, async (s) => {
        const list = await s.keys.list();
        if (opts.json) return print(JSON.stringify(list));
        for (const k of list) {
          const state = k.revokedAt
            ? 'revoked'
            : k.expiresAt && k.expiresAt < s.clock.now().toISOString()
              ? 'expired'
              : 'active';
          print(
            `${k.id}\t${k.prefix}…\t${k.name}\t${k.scopes.join(',')}\t${k.gemPattern ?? '*'}\t${k.expiresAt ?? 'never'}\t${state}`,
          );
        }
      });
    });
  withCommon(keys.command('revoke'))
    .description('revoke an API key by id')
    .argument('<id>')
    .action(async (id: string, opts: CommonOptions) => {
      if (!/^\d+$/.test(id)) throw new QuarryError('bad_request', `key id must be a number, not "${id}"`);
      await withServices(opts, async (s) => {
        await s.keys.revoke(Number(id));
        print(`revoked key ${id}`);
      });
    });

  for (const verb of ['yank', 'unyank'] as const) {
    withCommon(program.command(verb))
      .description(verb === 'yank' ? 'yank a version from the index' : 'restore a yanked version')
      .argument('<name>')
      .argument('<version>')
      .option('--platform <platform>', 'platform (default ruby)')
      .action(async (name: string, version: string, opts: CommonOptions & { platform?: string }) => {
        await withServices(opts, async (s) => print(await s.gems[verb](name, version, opts.platform)));
      });
  }

  withCommon(program.command('rebuild'))
    .description('compact /versions into a new base file (clients re-download it once)')
    .action(async (opts: CommonOptions) => {
      await withServices(opts, async (s) => {
        await s.gems.rebuildVersionsList();
        print('rebuilt /versions');
      });
    });

  program
    .command('users')
    .description('user helpers')
    .command('hash-password')
    .description('print a password_hash for auth.users in quarry.yaml (reads the password from stdin)')
    .action(async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const pw = Buffer.concat(chunks)
        .toString('utf8')
        .replace(/\r?\n$/, '');
      if (!pw) throw new QuarryError('bad_request', 'no password on stdin');
      print(hashPassword(pw));
    });
}
