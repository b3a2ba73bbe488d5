#!/usr/bin/env bash
# Create .venv (once) and install ablate into it. Sourced by quickstart.sh and test.sh.
# torch is pinned because an unpinned torch can pull several GB of CUDA wheels onto a CPU
# machine; on a GPU machine the same pin installs PyPI's CUDA build. Set ABLATE_TORCH to
# choose another torch requirement (e.g. ABLATE_TORCH="torch==2.13.0+cu130 --index-url ...").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "ablate needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086
.venv/bin/python -m pip install --quiet ${ABLATE_TORCH:-torch==2.13.0}
.venv/bin/python -m pip install --quiet -e ".[${ABLATE_EXTRAS:-dev}]"
