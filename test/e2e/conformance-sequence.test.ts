/**
 * The push / yank / re-push sequence of the public gem_server_conformance suite, replayed against
 * Quarry in-process with the test hooks on (POST /set_time, POST /rebuild_versions_list).
 *
 * The gems are rebuilt by real RubyGems (test/support/conformance-gems.rb) and must be the suite's
 * gems byte for byte: their SHA-256 sums and the /versions MD5s below are the values the suite
 * expects, produced by its reference server. After every step the test compares the exact bytes of
 * /versions, /names and every /info file, their validators, the three legacy spec lists (as sets),
 * the statuses, and the bodies of the gems and quick specs that are (or are no longer) served.
 * The steps live in test/support/conformance-sequence.ts (test/e2e/cluster.test.ts runs them against
 * a node of a cluster over HTTP). The full external suite runs with scripts/conformance.sh
 * (docs/conformance.md).
 */
import { describe } from 'node:test';
import { startHarness } from '../http/harness.ts';
import { conformanceSequence } from '../support/conformance-sequence.ts';

describe('gem_server_conformance push/yank/re-push sequence, in process', () => {
  conformanceSequence(async () => {
    const h = await startHarness({ testing: { hooks: true } });
    return {
      key: h.yankKey,
      close: () => h.close(),
      request: async ({ method = 'GET', url, headers, payload }) => {
        const r = await h.app.inject({
          method,
          url,
          ...(headers ? { headers } : {}),
          ...(payload === undefined ? {} : { payload }),
        });
        return { statusCode: r.statusCode, headers: r.headers, rawPayload: r.rawPayload, body: r.body };
      },
    };
  });
});
