/**
 * The static index's state on disk, as text that reads back in milliseconds (pure: strings in and
 * out). Two parts:
 * - a snapshot: a header, then one tab-separated line per indexed .gem in index order;
 * - an append-only log of updates since that snapshot, so an update appends a few hundred bytes
 *   instead of rewriting megabytes. Each update is one block: `+` and `-` lines, then a `commit`
 *   line with the /versions length and MD5 it left behind. The log names the snapshot it follows;
 *   a log of another snapshot, or with an unfinished block, is not used (then: a full build).
 * None of the fields can hold a tab or a newline: file names, gem names, versions and platforms
 * are validated, and info lines are single lines.
 */
import { compareEntries } from './order.ts';
import type { IndexedFile, StaticState } from './static-plan.ts';
import { mergeSorted, STATIC_STATE_LAYOUT } from './static-plan.ts';

const MAGIC = `quarry-index-state ${STATIC_STATE_LAYOUT}`;
const LOG_MAGIC = `quarry-index-log ${STATIC_STATE_LAYOUT}`;
const FIELDS = ['file', 'name', 'version', 'platform', 'sha256', 'info'] as const;

function line(f: IndexedFile): string {
  const fields = FIELDS.map((k) => f[k]);
  for (const v of fields) {
    if (/[\t\n]/.test(v)) throw new Error(`index state field holds a tab or newline: ${JSON.stringify(v)}`);
  }
  return fields.join('\t');
}

function fileOf(p: readonly string[]): IndexedFile | null {
  if (p.length !== FIELDS.length || p.some((v) => v === '')) return null;
  return { file: p[0]!, name: p[1]!, version: p[2]!, platform: p[3]!, sha256: p[4]!, info: p[5]! };
}

/** The snapshot text; `id` ties a log to it. */
export function serializeState(state: StaticState, id: string): string {
  let out =
    `${MAGIC}\nsnapshot ${id}\nversions_created_at ${state.versionsCreatedAt}\n` +
    `versions_length ${state.versionsLength}\nversions_md5 ${state.versionsMd5}\n` +
    `info_created_at ${state.infoCreatedAt}\n---\n`;
  for (const f of state.files) out += `${line(f)}\n`;
  return out;
}

export interface LoadedState {
  state: StaticState;
  /** The snapshot's id. */
  id: string;
  /** Committed log blocks applied on top of the snapshot. */
  logBlocks: number;
}

/** Reads a snapshot; a string says why it cannot be used. */
export function parseState(text: string): LoadedState | string {
  const end = text.indexOf('\n---\n');
  const head = end < 0 ? [] : text.slice(0, end).split('\n');
  if (head[0] !== MAGIC) {
    const layout = /^quarry-index-state (\S+)$/.exec(head[0] ?? '')?.[1];
    return layout
      ? `index state layout ${layout} is not ${STATIC_STATE_LAYOUT}`
      : 'index state is not readable';
  }
  const meta = new Map(head.slice(1).map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
  const id = meta.get('snapshot');
  const createdAt = meta.get('versions_created_at');
  const length = Number(meta.get('versions_length'));
  const md5 = meta.get('versions_md5');
  const infoCreatedAt = meta.get('info_created_at');
  if (
    !id ||
    !createdAt ||
    !Number.isInteger(length) ||
    !md5 ||
    (infoCreatedAt !== 'true' && infoCreatedAt !== 'false')
  )
    return 'index state header is incomplete';
  const files: IndexedFile[] = [];
  const body = text.slice(end + 5);
  let at = 0;
  while (at < body.length) {
    const nl = body.indexOf('\n', at);
    if (nl < 0) return 'index state is truncated';
    const f = fileOf(body.slice(at, nl).split('\t'));
    at = nl + 1;
    if (!f) return 'index state has a malformed line';
    files.push(f);
  }
  const state: StaticState = {
    layout: STATIC_STATE_LAYOUT,
    versionsCreatedAt: createdAt,
    versionsLength: length,
    versionsMd5: md5,
    infoCreatedAt: infoCreatedAt === 'true',
    files,
  };
  return { state, id, logBlocks: 0 };
}

/** The first line of a new log for snapshot `id`. */
export const logHeader = (id: string): string => `${LOG_MAGIC} ${id}\n`;

/** One update's log block. */
export function logBlock(
  change: { added: readonly IndexedFile[]; removed: readonly string[] },
  state: Pick<StaticState, 'versionsLength' | 'versionsMd5'>,
): string {
  let out = '';
  for (const file of change.removed) out += `-\t${file}\n`;
  for (const f of change.added) out += `+\t${line(f)}\n`;
  return `${out}commit ${state.versionsLength} ${state.versionsMd5}\n`;
}

const COMMIT = /^commit (\d+) ([0-9a-f]{32})$/;

/** True when `log` follows the snapshot `id` (else it is a leftover of an older one: ignore it). */
export const logFollows = (log: string, id: string): boolean => log.startsWith(logHeader(id));

/** The snapshot with the log's committed blocks applied; a string says why the log cannot be used. */
export function applyLog(loaded: LoadedState, log: string): LoadedState | string {
  if (!logFollows(log, loaded.id)) return 'index state log belongs to another snapshot';
  const lines = log.split('\n');
  if (lines.at(-1) !== '') return 'index state log ends in an unfinished update';
  // Later records win: a file may be added, removed and added again.
  const overrides = new Map<string, IndexedFile | null>();
  let pending = new Map<string, IndexedFile | null>();
  let length = loaded.state.versionsLength;
  let md5 = loaded.state.versionsMd5;
  let blocks = 0;
  for (let i = 1; i < lines.length - 1; i++) {
    const l = lines[i]!;
    const commit = COMMIT.exec(l);
    if (commit) {
      for (const [k, v] of pending) overrides.set(k, v);
      pending = new Map();
      length = Number(commit[1]);
      md5 = commit[2]!;
      blocks++;
    } else if (l.startsWith('-\t') && l.indexOf('\t', 2) < 0) {
      pending.set(l.slice(2), null);
    } else if (l.startsWith('+\t')) {
      const f = fileOf(l.slice(2).split('\t'));
      if (!f) return 'index state log has a malformed line';
      pending.set(f.file, f);
    } else {
      return 'index state log has a malformed line';
    }
  }
  if (pending.size > 0) return 'index state log ends in an unfinished update';
  if (blocks === 0) return loaded;
  const kept = loaded.state.files.filter((f) => !overrides.has(f.file));
  const added = [...overrides.values()].filter((f): f is IndexedFile => f !== null).sort(compareEntries);
  const files = mergeSorted(kept, added);
  return {
    id: loaded.id,
    logBlocks: loaded.logBlocks + blocks,
    state: { ...loaded.state, versionsLength: length, versionsMd5: md5, files },
  };
}
