#!/usr/bin/env bash
# Runs floodgate's whole test suite on a fresh machine: installs what the tests need
# (Debian packages such as redis-server), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh redis-server
exec cargo test --workspace --locked "$@"
