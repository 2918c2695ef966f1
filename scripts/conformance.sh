#!/usr/bin/env bash
# Runs the external gem_server_conformance suite (an RSpec suite from the RubyGems project) against
# a freshly started Quarry: new temporary data directory, new API key, test hooks on.
#
#   GEM_SERVER_CONFORMANCE_DIR=/path/to/gem_server_conformance scripts/conformance.sh [rspec args...]
#
# Environment:
#   GEM_SERVER_CONFORMANCE_DIR  a checkout of the suite (required; it is not vendored here)
#   PORT                        port for Quarry (default: a free port chosen by the OS)
# Extra arguments go to RSpec (e.g. --format documentation, --fail-fast).
#
# Exits with the suite's status. Not part of `npm test`: the suite has to be fetched separately.
# See docs/conformance.md.
set -euo pipefail

say() { printf 'conformance: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite="${GEM_SERVER_CONFORMANCE_DIR:-}"
[ -n "$suite" ] || die "set GEM_SERVER_CONFORMANCE_DIR to a checkout of rubygems/gem_server_conformance"
[ -f "$suite/exe/gem_server_conformance" ] || die "$suite does not look like the suite (no exe/gem_server_conformance)"
command -v node >/dev/null || die "node is required"

# ---- Ruby and RSpec ------------------------------------------------------------------------
if ! ruby -e 'require "rspec"' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ruby-rspec with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends ruby-rspec >/dev/null
  fi
  ruby -e 'require "rspec"' >/dev/null 2>&1 || die "ruby with rspec is required (Debian: apt-get install ruby-rspec)"
fi

# ---- workspace -----------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/quarry-conformance.XXXXXX")"
data="$work/data"
server_pid=""

cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The suite writes its RSpec status file into its own directory; use a copy when that is read-only.
if [ ! -w "$suite" ]; then
  say "$suite is not writable; running a copy"
  cp -R "$suite" "$work/suite"
  suite="$work/suite"
fi

# ---- Quarry --------------------------------------------------------------------------------
(cd "$root" && node scripts/setup.mjs --runtime) >&2

if [ -z "${PORT:-}" ]; then
  PORT="$(node -e '
    const s = require("node:net").createServer();
    s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });
  ')"
fi
upstream="http://127.0.0.1:$PORT"

key="$(cd "$root" && node bin/quarry keys create --scopes push,yank --name conformance --data "$data" | tail -n 1)"
[ -n "$key" ] || die "quarry keys create printed no key"

say "starting Quarry on $upstream (data: $data)"
(cd "$root" && exec node bin/quarry serve --port "$PORT" --host 127.0.0.1 --data "$data" --test-hooks) \
  >"$work/server.log" 2>&1 &
server_pid=$!

ready=""
for _ in $(seq 1 100); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/server.log" >&2
    die "Quarry exited before it was ready"
  fi
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "$upstream/versions" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || { cat "$work/server.log" >&2; die "Quarry did not answer on $upstream within 10 seconds"; }

# ---- the suite -----------------------------------------------------------------------------
say "running $suite against $upstream"
mkdir -p "$work/home"
set +e
(
  cd "$suite"
  env HOME="$work/home" UPSTREAM="$upstream" GEM_HOST_API_KEY="$key" \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
    ruby -I lib exe/gem_server_conformance "$@"
)
status=$?
set -e

if [ "$status" -ne 0 ]; then
  say "suite failed (exit $status); last lines of the Quarry log:"
  tail -n 50 "$work/server.log" >&2 || true
fi
say "suite exit status: $status"
exit "$status"
