"""The quickstart with a GPU per trial. Runs only where CUDA is available (a lent GPU machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
# The whole stack (Ray, MLflow) must be installed: a bare GPU image may carry only the trainer.
pytest.importorskip("ray")
pytest.importorskip("mlflow")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
REPO = Path(__file__).resolve().parents[2]


def test_quickstart_trains_on_the_gpu(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ablate",
            "run",
            str(REPO / "sweeps" / "quickstart.yaml"),
            "resources.gpus_per_trial=1",
            "--results-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    stats = [
        json.loads(p.read_text()) for p in tmp_path.glob("quickstart/trials/*/train/stats.json")
    ]
    assert len(stats) == 4 and all(s["device"] == "cuda" for s in stats)
    print(
        f"\nquickstart on GPU: {time.monotonic() - started:.1f}s wall; "
        + ", ".join(f"{s['train_examples']} ex: {s['train_seconds']:.1f}s train" for s in stats)
    )
