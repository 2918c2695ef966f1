/**
 * The quarry command line: one verb per job. Errors become a message and an exit code here. Run by
 * main.ts, on the main thread or (mirror, import) on a worker thread of its own.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { Command, CommanderError } from 'commander';
import { isQuarryError } from '../errors.ts';
import { registerAdmin } from './admin-commands.ts';
import { registerCache } from './cache-command.ts';
import { registerCatalog } from './catalog-command.ts';
import { registerIndex } from './index-command.ts';
import { registerMirror } from './mirror-command.ts';
import { registerPublish } from './publish-command.ts';
import { registerServe } from './serve-command.ts';
import { registerVerify } from './verify-command.ts';

// On a worker thread the standard streams are pipes to the main thread: say whether the main
// thread's are terminals, for the progress display.
if (!isMainThread && (workerData as { quarryTty?: unknown } | null)?.quarryTty) {
  const tty = (workerData as { quarryTty: { stdout: boolean; stderr: boolean; columns?: number } }).quarryTty;
  Object.assign(process.stdout, { isTTY: tty.stdout, columns: tty.columns });
  Object.assign(process.stderr, { isTTY: tty.stderr });
}

const program = new Command();
program
  .name('quarry')
  .description('RubyGems server and indexer')
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError();
registerIndex(program);
registerServe(program);
registerCache(program);
registerMirror(program);
registerAdmin(program);
registerPublish(program);
registerVerify(program);
registerCatalog(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (isQuarryError(e)) {
    process.stderr.write(`quarry: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`quarry: unexpected error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 70;
  }
}
