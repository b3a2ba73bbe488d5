#!/usr/bin/env bash
# Set up (first time) and run the offline quickstart sweep: tiny model, synthetic data, CPU.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/ablate run sweeps/quickstart.yaml "$@"
