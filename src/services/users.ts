/** Users from the configuration who may sign in (gem signin) to get an API key. scrypt hashes. */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Scope } from '../catalog/types.ts';

export interface UserEntry {
  name: string;
  password_hash: string;
  scopes: Scope[];
}

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('hex')}$${scryptSync(password, salt, 32).toString('hex')}`;
}

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** Checks a password against a stored hash; scrypt runs on the thread pool, off the event loop. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [, saltHex, hashHex] = stored.split('$');
  if (!saltHex || !hashHex) return false;
  const want = Buffer.from(hashHex, 'hex');
  const got = await scryptAsync(password, Buffer.from(saltHex, 'hex'), want.length);
  return timingSafeEqual(got, want);
}

/**
 * The user whose name and password match, or null. With users configured, always hashes once, so
 * timing says nothing about which names exist; with none, nothing can match and nothing is hashed.
 */
export async function authenticateUser(
  users: readonly UserEntry[],
  name: string,
  password: string,
): Promise<UserEntry | null> {
  if (users.length === 0) return null;
  const user = users.find((u) => u.name === name);
  const ok = await verifyPassword(
    password,
    user?.password_hash ?? users[0]!.password_hash.replace(/[0-9a-f]+$/, (h) => '0'.repeat(h.length)),
  );
  return user && ok ? user : null;
}

/** Decodes `Authorization: Basic …` into name and password. */
export function parseBasicAuth(header: string | undefined): { name: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? { name: text, password: '' } : { name: text.slice(0, i), password: text.slice(i + 1) };
}
