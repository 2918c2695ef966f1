/**
 * A stand-in for `https://BUCKET.s3.REGION.amazonaws.com` on this machine, for the real RubyGems
 * `s3://` source (PROTOCOL.md section 8):
 * - a throwaway CA and a server certificate for the bucket's host name, made with Debian's openssl;
 * - an HTTPS server on 127.0.0.1:443 that checks AWS SigV4 query-string signatures as S3 does and
 *   answers GET/HEAD from a callback (the test reads the objects from s3rver);
 * - an /etc/hosts line mapping the host name to 127.0.0.1, removed again (exactly that line).
 *
 * Clock rule: a presigned URL is valid from 15 minutes before its X-Amz-Date until X-Amz-Expires
 * seconds after it (S3's skew allowance and expiry). RubyGems up to 3.6 writes the month where the
 * minutes belong in X-Amz-Date (`%m` for `%M`), so its claimed time is between 60 minutes before and
 * 12 minutes after the real one; it signs that same string, so the rule above accepts it, as S3 does.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export type Verdict = { ok: true; accessKeyId: string } | { ok: false; code: string; message: string };

export interface PresignedRequest {
  method: string;
  /** The request target as received: path and query string. */
  url: string;
  /** Request headers, lower-case names. */
  headers: Record<string, string | string[] | undefined>;
}

const SKEW_MS = 15 * 60 * 1000;
const MAX_EXPIRES = 7 * 24 * 3600;

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, upper-case hex. */
const awsEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const hmac = (key: Buffer | string, data: string): Buffer =>
  createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

const fail = (code: string, message: string): Verdict => ({ ok: false, code, message });

/** Parses `YYYYMMDDTHHMMSSZ` strictly; null when it is not a real UTC time. */
export function parseAmzDate(s: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  if (t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return null;
  return t;
}

/** Verifies an AWS SigV4 presigned (query-string) request for service s3, as S3 would. */
export function verifyPresigned(
  req: PresignedRequest,
  region: string,
  secretFor: (accessKeyId: string) => string | null,
  now: Date,
): Verdict {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const params: [string, string][] = [];
  for (const part of (q < 0 ? '' : req.url.slice(q + 1)).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    params.push([name, value]);
  }
  const get = (name: string): string | undefined => params.find(([n]) => n === name)?.[1];
  const signature = get('X-Amz-Signature');
  const credential = get('X-Amz-Credential');
  const amzDate = get('X-Amz-Date');
  const expires = get('X-Amz-Expires');
  const signedHeaders = get('X-Amz-SignedHeaders');
  if (
    get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' ||
    !signature ||
    !credential ||
    !amzDate ||
    !signedHeaders
  ) {
    return fail('AccessDenied', 'Access Denied (no or incomplete query-string authentication)');
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[2] !== region || scope[3] !== 's3' || scope[4] !== 'aws4_request') {
    return fail('AuthorizationQueryParametersError', `bad credential scope ${credential}`);
  }
  const [accessKeyId, day] = scope as [string, string];
  const secret = secretFor(accessKeyId);
  if (secret === null) return fail('InvalidAccessKeyId', `unknown access key ${accessKeyId}`);
  const signedAt = parseAmzDate(amzDate);
  if (!signedAt || amzDate.slice(0, 8) !== day) {
    return fail('AuthorizationQueryParametersError', `X-Amz-Date ${amzDate} is not a time of day ${day}`);
  }
  const ttl = Number(expires);
  if (!/^\d+$/.test(expires ?? '') || ttl < 1 || ttl > MAX_EXPIRES) {
    return fail('AuthorizationQueryParametersError', `X-Amz-Expires ${expires} is out of range`);
  }
  if (now.getTime() < signedAt.getTime() - SKEW_MS) return fail('AccessDenied', 'Request is not valid yet');
  if (now.getTime() > signedAt.getTime() + ttl * 1000) return fail('AccessDenied', 'Request has expired');

  const names = signedHeaders.split(';');
  if (!names.includes('host')) return fail('AccessDenied', 'the host header must be signed');
  const canonicalHeaders = names
    .map((n) => {
      const v = req.headers[n];
      return `${n}:${(Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalQuery = params
    .filter(([n]) => n !== 'X-Amz-Signature')
    .map(([n, v]) => [awsEncode(n), awsEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
  const canonicalRequest = [
    req.method,
    path,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope.slice(1).join('/'),
    sha256Hex(canonicalRequest),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 's3'), 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided',
    );
  }
  return { ok: true, accessKeyId };
}

export interface TestCertificate {
  /** PEM file of the CA, for SSL_CERT_FILE. */
  caFile: string;
  key: string;
  cert: string;
}

/** A throwaway CA (in dir) and a server certificate for hostName signed by it; EC keys, 2 days. */
export function makeTestCertificate(dir: string, hostName: string): TestCertificate {
  const p = (f: string): string => join(dir, f);
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=Quarry throwaway test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', `/CN=${hostName}`]);
  writeFileSync(
    p('server.ext'),
    `subjectAltName=DNS:${hostName}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl([
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-set_serial',
    `0x${Date.now().toString(16)}`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    p('server.ext'),
    '-out',
    p('server.pem'),
  ]);
  return {
    caFile: p('ca.pem'),
    key: readFileSync(p('server.key'), 'utf8'),
    cert: readFileSync(p('server.pem'), 'utf8'),
  };
}

export interface ProxyRequest {
  method: string;
  path: string;
  status: number;
  /** The S3 error code when refused. */
  code?: string;
}

export interface SigV4TlsServer {
  requests: ProxyRequest[];
  close(): Promise<void>;
}

export interface SigV4TlsServerOptions {
  certificate: TestCertificate;
  region: string;
  credentials: Credentials;
  /** The object under a bucket key, or null. */
  getObject: (key: string) => Promise<Buffer | null>;
  /** Default 443. */
  port?: number;
  now?: () => Date;
}

const errorXml = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;

/** Listens on 127.0.0.1 (port 443 unless told otherwise); rejects when it cannot. */
export async function startSigV4TlsServer(o: SigV4TlsServerOptions): Promise<SigV4TlsServer> {
  const requests: ProxyRequest[] = [];
  const now = o.now ?? (() => new Date());
  const server = createServer({ key: o.certificate.key, cert: o.certificate.cert }, (req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    req.resume();
    const answer = (
      status: number,
      headers: Record<string, string | number>,
      body: Buffer | string,
      code?: string,
    ) => {
      const r: ProxyRequest = { method, path, status };
      if (code !== undefined) r.code = code;
      requests.push(r);
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      res.writeHead(status, { ...headers, 'Content-Length': bytes.length });
      res.end(method === 'HEAD' ? undefined : bytes);
    };
    const xml = { 'Content-Type': 'application/xml' };
    if (method !== 'GET' && method !== 'HEAD') {
      answer(
        405,
        xml,
        errorXml('MethodNotAllowed', 'The specified method is not allowed'),
        'MethodNotAllowed',
      );
      return;
    }
    const verdict = verifyPresigned(
      { method, url, headers: req.headers },
      o.region,
      (id) => (id === o.credentials.accessKeyId ? o.credentials.secretAccessKey : null),
      now(),
    );
    if (!verdict.ok) {
      answer(403, xml, errorXml(verdict.code, verdict.message), verdict.code);
      return;
    }
    let key: string;
    try {
      key = decodeURIComponent(path.slice(1));
    } catch {
      answer(400, xml, errorXml('InvalidURI', 'Could not parse the URI'), 'InvalidURI');
      return;
    }
    const notFound = () =>
      answer(404, xml, errorXml('NoSuchKey', 'The specified key does not exist.'), 'NoSuchKey');
    if (key === '' || key.endsWith('/')) {
      notFound();
      return;
    }
    o.getObject(key).then(
      (body) => {
        if (body === null) notFound();
        else answer(200, { 'Content-Type': 'application/octet-stream' }, body);
      },
      () => answer(500, xml, errorXml('InternalError', 'read failed'), 'InternalError'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 443, '127.0.0.1', () => resolve());
  });
  return {
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * Appends `127.0.0.1 hostName` (tagged with this process) to the hosts file; the returned function
 * removes exactly that line, and runs at process exit too if the caller never gets to it.
 */
export function addHostsEntry(hostName: string, hostsFile = '/etc/hosts'): () => void {
  const line = `127.0.0.1 ${hostName} # quarry test ${process.pid}`;
  const before = readFileSync(hostsFile, 'utf8');
  const inserted = `${before === '' || before.endsWith('\n') ? '' : '\n'}${line}\n`;
  writeFileSync(hostsFile, before + inserted);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    process.off('exit', remove);
    const now = readFileSync(hostsFile, 'utf8');
    const at = now.lastIndexOf(inserted);
    if (at >= 0) writeFileSync(hostsFile, now.slice(0, at) + now.slice(at + inserted.length));
    else {
      const lines = now.split('\n');
      const i = lines.indexOf(line);
      if (i >= 0) {
        lines.splice(i, 1);
        writeFileSync(hostsFile, lines.join('\n'));
      }
    }
  };
  process.on('exit', remove);
  return remove;
}
