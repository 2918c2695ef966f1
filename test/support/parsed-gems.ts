/** Parsed gems for planner tests: made by makeGem, read by the real reader. */
import { readGem } from '../../src/gem/package.ts';
import type { ParsedGem } from '../../src/index/static-plan.ts';
import type { GemOptions } from './make-gem.ts';
import { makeGem } from './make-gem.ts';

export function parsedGem(o: GemOptions): ParsedGem {
  const pkg = readGem(makeGem(o));
  const plat = o.platform && o.platform !== 'ruby' ? `-${o.platform}` : '';
  return { file: `${o.name}-${o.version}${plat}.gem`, spec: pkg.spec, sha256: pkg.sha256 };
}

/** Two names, a platform gem, a prerelease and a multi-constraint dependency. */
export const plannerCorpus = (): ParsedGem[] => [
  parsedGem({ name: 'b', version: '2.0', deps: [['a', '>= 1', '< 3']] }),
  parsedGem({ name: 'a', version: '1.0' }),
  parsedGem({ name: 'a', version: '1.0', platform: 'java' }),
  parsedGem({ name: 'a', version: '2.0.pre' }),
];
