/**
 * A query built and compiled by Kysely once, then run with new values: building a query (its
 * operation tree, the parsers, the compiler) cost a mirror more than SQLite running it, for the
 * few queries every push runs. The SQL is compiled on first use, for the database it runs on, with
 * marker values in place of the arguments; each run puts the arguments where the markers were.
 */
import type { Compilable } from 'kysely';
import { CompiledQuery } from 'kysely';
import type { Db } from './rows.ts';

const MARK = '\u0000quarry-arg-';

export class PreparedQuery<Args extends readonly unknown[], Row> {
  private compiled: { sql: string; slots: ({ arg: number } | { value: unknown })[] } | null = null;

  /** @param build the query, with `marks[i]` where argument i goes (a marker string, any column type) */
  constructor(private readonly build: (db: Db, marks: string[]) => Compilable<Row>) {}

  async execute(db: Db, ...args: Args): Promise<Row[]> {
    if (!this.compiled) {
      const c = this.build(
        db,
        args.map((_, i) => `${MARK}${i}`),
      ).compile();
      const slots = c.parameters.map((p) =>
        typeof p === 'string' && p.startsWith(MARK) ? { arg: Number(p.slice(MARK.length)) } : { value: p },
      );
      const used = new Set(slots.flatMap((s) => ('arg' in s ? [s.arg] : [])));
      if (used.size !== args.length)
        throw new Error(`prepared query: ${args.length - used.size} argument(s) not placed`);
      this.compiled = { sql: c.sql, slots };
    }
    const { sql, slots } = this.compiled;
    const params = slots.map((s) => ('arg' in s ? args[s.arg] : s.value));
    return (await db.executeQuery<Row>(CompiledQuery.raw(sql, params))).rows;
  }

  async first(db: Db, ...args: Args): Promise<Row | undefined> {
    return (await this.execute(db, ...args))[0];
  }
}
