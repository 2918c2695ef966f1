/** Users from the configuration who may sign in (gem signin) to get an API key. scrypt hashes. */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
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

export function verifyPassword(password: string, stored: string): boolean {
  const [, saltHex, hashHex] = stored.split('$');
  if (!saltHex || !hashHex) return false;
  const want = Buffer.from(hashHex, 'hex');
  const got = scryptSync(password, Buffer.from(saltHex, 'hex'), want.length);
  return timingSafeEqual(got, want);
}

/** The user whose name and password match, or null. Always hashes once, so timing says nothing. */
export function authenticateUser(
  users: readonly UserEntry[],
  name: string,
  password: string,
): UserEntry | null {
  const user = users.find((u) => u.name === name);
  const ok = verifyPassword(password, user?.password_hash ?? `scrypt$${'00'.repeat(16)}$${'00'.repeat(32)}`);
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
