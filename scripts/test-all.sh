#!/usr/bin/env bash
# Runs every test suite: Python (gateway, workers, deploy checks, and tests/contract: schemathesis against a live
# gateway, fixed seed), then the UI's component and browser tests.
# Exits non-zero if any suite fails, after running them all.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
if [ -f frontend/package.json ]; then
  make -C frontend test || status=1
  make -C frontend e2e || status=1
fi
.venv/bin/python -m pytest "$@" || status=1
exit $status
