/**
 * Command-line flags of the benchmarks: a table of known flags (each with its kind, the word shown for
 * its value, and a line of help) that both parses argv and writes the --help text.
 *
 * `--flag VALUE` and `--flag=VALUE` are read alike; flags apply in the order given (a later one wins).
 * An unknown flag, a missing value or a bad one throws an Error that names the flag (with the help
 * after an unknown one); --help or -h prints the help and exits 0.
 */

interface Base {
  /** The flag as the help shows it: `--keep`, or with the word for its value, `--gems N`. */
  flag: string;
  /** Its help: the first line beside the flag, later lines (after \n) below the first. */
  help: string;
}
interface Bounded extends Base {
  min?: number;
  max?: number;
}

/** The keys of O that a value of type T can be stored in. */
type KeyFor<O, T> = { [K in keyof O]-?: T extends O[K] ? K : never }[keyof O];
/** Where a flag's value goes: straight into the option `to`, or through `set`. */
type Target<O, T> = { to: KeyFor<O, T>; set?: never } | { set: (o: O, v: T) => void; to?: never };

/** A flag applied to the options O. */
export type Flag<O> =
  /** No value: stores `value` (default true) in `to`, or calls `set`. */
  | (Base & { kind: 'bool' } & ({ to: KeyFor<O, boolean>; value?: boolean } | { set: (o: O) => void }))
  /** A whole number (digits only) within [min, max]. */
  | (Bounded & { kind: 'int' } & Target<O, number>)
  /** A comma-separated list of whole numbers, each within [min, max]. */
  | (Bounded & { kind: 'ints' } & Target<O, number[]>)
  /** Any finite number within [min, max]. */
  | (Bounded & { kind: 'number' } & Target<O, number>)
  /** Any text. */
  | (Base & { kind: 'string' } & Target<O, string>)
  /** One of the words of `of`. */
  | (Base & { kind: 'choice'; of: readonly string[] } & Target<O, string>)
  /** A comma-separated, non-empty list of words of `of`. */
  | (Base & { kind: 'choices'; of: readonly string[] } & Target<O, string[]>);

export interface FlagSet<O> {
  /** The help's first line(s): how the benchmark is run. */
  usage: string;
  /** The column the help of each flag starts at, after two spaces of indent and two of gap. */
  width: number;
  flags: readonly Flag<O>[];
}

/** The --help text: the usage, then a line (or more) a flag. No newline at the end. */
export function helpText<O>(set: FlagSet<O>): string {
  const lines = [set.usage];
  for (const f of set.flags) {
    const [first, ...rest] = f.help.split('\n');
    lines.push(`  ${f.flag.padEnd(set.width)}  ${first}`);
    for (const more of rest) lines.push(`${' '.repeat(set.width + 4)}${more}`);
  }
  return lines.join('\n');
}

/** `--gems` of `--gems N`. */
const nameOf = (f: Base): string => f.flag.split(' ')[0]!;

const bounds = (f: Bounded, what: string): string => {
  if (f.min !== undefined && f.max !== undefined) return `${what} from ${f.min} to ${f.max}`;
  if (f.min !== undefined) return `${what} >= ${f.min}`;
  return f.max !== undefined ? `${what} <= ${f.max}` : what;
};

function number(f: Bounded, v: string, whole: boolean): number {
  const n = Number(v);
  const ok =
    (whole ? /^\d+$/.test(v) : v.trim() !== '' && Number.isFinite(n)) &&
    (f.min === undefined || n >= f.min) &&
    (f.max === undefined || n <= f.max);
  if (!ok)
    throw new Error(
      `${nameOf(f)} needs ${bounds(f, whole ? 'a whole number' : 'a number')}, not ${JSON.stringify(v)}`,
    );
  return n;
}

function words(f: Base & { of: readonly string[] }, v: string, list: boolean): string[] {
  const ws = list ? v.split(',').filter(Boolean) : [v];
  if (ws.length === 0 || ws.some((w) => !f.of.includes(w)))
    throw new Error(
      `${nameOf(f)} takes ${list ? 'a list of ' : ''}${f.of.join(', ')}, not ${JSON.stringify(v)}`,
    );
  return ws;
}

/** The value of a flag that takes one, checked. */
function read<O>(f: Exclude<Flag<O>, { kind: 'bool' }>, v: string): unknown {
  switch (f.kind) {
    case 'int':
      return number(f, v, true);
    case 'ints':
      return v.split(',').map((x) => number(f, x, true));
    case 'number':
      return number(f, v, false);
    case 'string':
      return v;
    case 'choice':
      return words(f, v, false)[0];
    case 'choices':
      return words(f, v, true);
  }
}

/**
 * Applies argv's flags to o (which holds the defaults) in order, and returns it. --help and -h print
 * the help and exit 0.
 */
export function parseFlags<O>(argv: readonly string[], set: FlagSet<O>, o: O): O {
  const byName = new Map(set.flags.map((f) => [nameOf(f), f]));
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (name === '--help' || name === '-h') {
      process.stdout.write(`${helpText(set)}\n`);
      process.exit(0);
    }
    const f = byName.get(name);
    if (!f) throw new Error(`unknown option ${JSON.stringify(argv[i])}\n${helpText(set)}`);
    if (f.kind === 'bool') {
      if (inline !== undefined) throw new Error(`${name} takes no value`);
      if ('set' in f) f.set(o);
      else (o as Record<keyof O, unknown>)[f.to] = f.value ?? true;
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`${name} needs a value (${f.flag.slice(name.length + 1)})`);
    const value = read(f, v);
    if (f.set) (f.set as (o: O, v: unknown) => void)(o, value);
    else (o as Record<keyof O, unknown>)[f.to] = value;
  }
  return o;
}
