"""A read-only results folder is refused with one message before anything runs.

The folder is made read-only for real: a read-only bind mount in a private mount namespace
(`unshare`), so even root cannot write there (a chmod would not stop root). Skipped where
unprivileged namespaces are not available."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import clean_env

REPO = Path(__file__).resolve().parents[2]


def _namespaces_work(folder: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount --bind {folder} {folder}"],
        capture_output=True,
    )
    return probe.returncode == 0


def run_read_only(
    folder: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`ablate ARGS` with `folder` mounted read-only for that process alone."""
    ablate = " ".join([sys.executable, "-m", "ablate", *args])
    script = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && {ablate}"
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=env, cwd=REPO
    )


@pytest.mark.parametrize("target", ["results", "existing"])
def test_a_read_only_results_folder_is_refused(
    tiny_cache: Path, tmp_path: Path, target: str
) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    if not _namespaces_work(folder):
        pytest.skip("unprivileged mount namespaces are not available here")
    results = folder / "results"
    if target == "existing":
        results.mkdir()  # an existing, empty, read-only results folder
    env = clean_env(ABLATE_CACHE=str(tiny_cache.parent.parent))
    done = run_read_only(
        folder, "run", str(REPO / "sweeps" / "quickstart.yaml"), "--results-dir", str(results),
        env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "not writable" in done.stderr and str(folder) in done.stderr
    assert sorted(p.name for p in folder.rglob("*")) == (
        ["results"] if target == "existing" else []
    )
