/** `quarry verify [--fix] [--json]`: the catalog against the blob store (src/services/verify.ts). */
import type { Command } from 'commander';
import { clockFromEnv } from '../config/clock.ts';
import type { LeftoverAction, VerifyReport } from '../services/verify.ts';
import type { CommonOptions } from './common.ts';
import { configFrom, withCommon } from './common.ts';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

const ACTION: Record<LeftoverAction, string> = {
  removed: 'removed',
  recent: 'kept: younger than one hour',
  kept: 'kept: run with --fix to remove it',
  referenced: 'kept: a version refers to it now',
};

/** The report as lines for a terminal. */
export function formatVerifyReport(r: VerifyReport): string[] {
  const lines: string[] = [];
  const counts = (['missing', 'corrupt', 'unreadable'] as const)
    .map((k) => [k, r.problems.filter((p) => p.kind === k).length] as const)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`);
  lines.push(
    `checked ${plural(r.referenced, 'referenced blob')}: ${r.intact} intact${counts.length > 0 ? `, ${counts.join(', ')}` : ''}`,
  );
  for (const p of r.problems) {
    const detail =
      p.kind === 'missing'
        ? 'not in the blob store'
        : p.kind === 'corrupt'
          ? `sha256 ${p.actualSha256} (${plural(p.actualSize ?? 0, 'byte')}), expected ${p.sha256} (${plural(p.size, 'byte')})`
          : (p.error ?? 'read failed');
    lines.push(`${p.kind}: ${p.file} at ${p.key}: ${detail}`);
  }
  for (const o of r.orphans) {
    lines.push(`orphan: ${o.key} (${plural(o.size, 'byte')}, modified ${o.modified}): ${ACTION[o.action]}`);
  }
  for (const t of r.tempFiles) {
    lines.push(
      `temp file: ${t.path} (${plural(t.size, 'byte')}, modified ${t.modified}): ${ACTION[t.action]}`,
    );
  }
  const removed = r.orphans.filter((o) => o.action === 'removed').length;
  const removedTemp = r.tempFiles.filter((t) => t.action === 'removed').length;
  lines.push(
    `${plural(r.orphans.length, 'orphan')} (${removed} removed), ${plural(r.tempFiles.length, 'temp file')} (${removedTemp} removed)`,
  );
  return lines;
}

export function registerVerify(program: Command): void {
  withCommon(program.command('verify'))
    .description(
      'check that every version’s .gem blob exists with its sha256, and list blobs no version refers to; ' +
        'exit 1 when a referenced blob is missing or corrupt',
    )
    .option('--fix', 'remove orphan blobs and temp files older than one hour (never a referenced blob)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: CommonOptions & { fix?: boolean; json?: boolean }) => {
      const [{ composeServices }, { verifyBlobs }] = await Promise.all([
        import('../compose.ts'),
        import('../services/verify.ts'),
      ]);
      const s = await composeServices(await configFrom(opts), clockFromEnv(process.env), {
        metricsDefaults: false,
      });
      let report: VerifyReport;
      try {
        report = await verifyBlobs(
          { catalog: s.catalog, blobs: s.blobs, now: s.clock.now },
          { fix: opts.fix ?? false },
        );
      } finally {
        await s.close();
      }
      const out = opts.json ? [JSON.stringify(report)] : formatVerifyReport(report);
      process.stdout.write(`${out.join('\n')}\n`);
      if (!report.ok) {
        const names = report.problems.map((p) => `${p.file} (${p.kind}, ${p.key})`);
        process.stderr.write(
          `quarry: ${plural(report.problems.length, 'referenced blob is', 'referenced blobs are')} missing or corrupt: ${names.join(', ')}\n`,
        );
        process.exitCode = 1;
      }
    });
}
