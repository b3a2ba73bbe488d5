#!/usr/bin/env bash
# Set up (first time) and run the checks: ruff, mypy, then the unit and integration tests.
# Extra arguments go to pytest (e.g. -m "not integration" for the fast unit tests only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
# The benchmarks run by hand, not in the tests: type-checking them catches an API they call
# that moved or changed (two had, unnoticed, and would have failed on a GPU machine).
.venv/bin/mypy benchmarks
# Two test processes (pytest-xdist), each test file kept in one: half the tests wait on
# processes (Ray, a loopback server, a killed worker), so two interleave well on two cores.
# ABLATE_TEST_WORKERS=0 runs them in this process. The slowest tests are listed at the end.
# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
set +e
.venv/bin/python -m pytest -p no:cacheprovider -n "${ABLATE_TEST_WORKERS:-2}" --dist loadscope \
  --durations=10 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
