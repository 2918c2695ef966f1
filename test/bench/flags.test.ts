/** bench/server/flags.ts: the flag table the benchmarks' option parsers share. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FlagSet } from '../../bench/server/flags.ts';
import { helpText, parseFlags } from '../../bench/server/flags.ts';

interface O {
  runs: number;
  sizes: number[];
  share: number;
  dir: string | null;
  mode: string;
  kinds: string[];
  keep: boolean;
  build: boolean;
}
const defaults = (): O => ({
  runs: 3,
  sizes: [1],
  share: 0.1,
  dir: null,
  mode: 'a',
  kinds: ['x'],
  keep: false,
  build: true,
});
const FLAGS: FlagSet<O> = {
  usage: 'usage: bench [options]',
  width: 12,
  flags: [
    { flag: '--runs N', kind: 'int', min: 1, to: 'runs', help: 'rounds (default 3)' },
    { flag: '--sizes LIST', kind: 'ints', min: 0, to: 'sizes', help: 'sizes\nsecond line' },
    {
      flag: '--share P',
      kind: 'number',
      min: 0,
      max: 100,
      set: (o, p) => {
        o.share = p / 100;
      },
      help: 'percent',
    },
    { flag: '--dir DIR', kind: 'string', to: 'dir', help: 'a folder' },
    { flag: '--mode M', kind: 'choice', of: ['a', 'b'], to: 'mode', help: 'a or b' },
    { flag: '--kinds LIST', kind: 'choices', of: ['x', 'y'], to: 'kinds', help: 'x,y' },
    { flag: '--keep', kind: 'bool', to: 'keep', help: 'keep' },
    { flag: '--no-build', kind: 'bool', to: 'build', value: false, help: 'no build' },
  ],
};
const parse = (...argv: string[]) => parseFlags(argv, FLAGS, defaults());

describe('bench flags', () => {
  test('no flags: the defaults', () => {
    assert.deepEqual(parse(), defaults());
  });

  test('every kind, as --flag VALUE and --flag=VALUE; a later flag wins', () => {
    assert.deepEqual(
      parse(
        '--runs',
        '5',
        '--sizes=0,2,30',
        '--share',
        '2.5',
        '--dir',
        '--odd',
        '--mode=b',
        '--kinds',
        'y,x',
        '--keep',
        '--no-build',
        '--runs=7',
      ),
      {
        runs: 7,
        sizes: [0, 2, 30],
        share: 0.025,
        dir: '--odd',
        mode: 'b',
        kinds: ['y', 'x'],
        keep: true,
        build: false,
      },
    );
  });

  test('errors name the flag and the bad value', () => {
    const fails = (argv: string[], re: RegExp) => assert.throws(() => parse(...argv), re);
    fails(['--bogus'], /^Error: unknown option "--bogus"\nusage: bench/);
    fails(['--runs', 'x'], /^Error: --runs needs a whole number >= 1, not "x"$/);
    fails(['--runs', '0'], /--runs needs a whole number >= 1, not "0"/);
    fails(['--runs', '1.5'], /--runs needs a whole number/);
    fails(['--runs'], /^Error: --runs needs a value \(N\)$/);
    fails(['--sizes', '1,,2'], /--sizes needs a whole number >= 0, not ""/);
    fails(['--share', '101'], /--share needs a number from 0 to 100, not "101"/);
    fails(['--share', ''], /--share needs a number/);
    fails(['--mode', 'c'], /--mode takes a, b, not "c"/);
    fails(['--kinds', 'x,z'], /--kinds takes a list of x, y, not "x,z"/);
    fails(['--kinds', ''], /--kinds takes a list of x, y/);
    fails(['--keep=1'], /--keep takes no value/);
  });

  test('the help: the usage, then each flag with its help at the given column', () => {
    assert.equal(
      helpText(FLAGS),
      [
        'usage: bench [options]',
        '  --runs N      rounds (default 3)',
        '  --sizes LIST  sizes',
        '                second line',
        '  --share P     percent',
        '  --dir DIR     a folder',
        '  --mode M      a or b',
        '  --kinds LIST  x,y',
        '  --keep        keep',
        '  --no-build    no build',
      ].join('\n'),
    );
  });
});
