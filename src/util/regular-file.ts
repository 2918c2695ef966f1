/**
 * Reading an input file that someone else put there: refuse anything but a regular file (a FIFO
 * would block the read forever, a directory or device is no input), refuse it before reading when
 * it is too large, and turn every failure into a QuarryError that names the problem, never the
 * file's contents.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { QuarryError } from '../errors.ts';

/** What a non-regular file is, in words. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

const ioError = (e: unknown): QuarryError => {
  const err = e as NodeJS.ErrnoException;
  const code = err.code ?? 'error';
  if (code === 'ENOENT')
    return new QuarryError('io', 'the file is gone (or is a broken symlink)', { cause: e });
  if (code === 'ELOOP') return new QuarryError('io', 'is a symlink loop', { cause: e });
  return new QuarryError('io', `cannot be read (${code})`, { cause: e });
};

/**
 * Checks that `path` (symlinks followed) is a regular file, without opening it. Throws QuarryError
 * `invalid_gem` ("is a directory, not a file") or `io`.
 */
export function assertRegularFile(path: string): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw ioError(e);
  }
  if (!st.isFile()) throw new QuarryError('invalid_gem', `is ${fileKind(st)}, not a file`);
  return st;
}

/**
 * The bytes of the regular file at `path` (symlinks followed). Opened with O_NONBLOCK, so a FIFO
 * swapped in after a check cannot block; checked with fstat on the open descriptor. Throws
 * QuarryError: `invalid_gem` for a non-regular file, `limit_exceeded` over `maxSize`, `io` when it
 * cannot be read.
 */
export function readRegularFile(path: string, maxSize: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw ioError(e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new QuarryError('invalid_gem', `is ${fileKind(st)}, not a file`);
    if (st.size > maxSize) {
      throw new QuarryError('limit_exceeded', `file is ${st.size} bytes, over the ${maxSize}-byte limit`);
    }
    const out = Buffer.allocUnsafe(st.size);
    let at = 0;
    while (at < out.length) {
      const n = readSync(fd, out, at, out.length - at, at);
      if (n === 0) break;
      at += n;
    }
    // A file that shrank while being read is cut short; one that grew is read to its old size.
    return at === out.length ? out : out.subarray(0, at);
  } catch (e) {
    if (e instanceof QuarryError) throw e;
    throw ioError(e);
  } finally {
    closeSync(fd);
  }
}
