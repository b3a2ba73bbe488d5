#!/usr/bin/env bash
# Set up (first time) and run the checks: ruff, mypy, then the unit and integration tests.
# Extra arguments go to pytest (e.g. -m "not integration" for the fast unit tests only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
