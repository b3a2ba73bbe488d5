"""generation.backend: a plain name checked at load, and vllm refused at once (exit 2, one
message) where the package is missing or a trial would not get a whole GPU. Whether vllm is
installed is simulated through sys.modules: None marks it absent, a bare module present."""

from __future__ import annotations

import sys
import types
from importlib.util import find_spec
from pathlib import Path

import pytest

from ablate.checks import load as load_config
from ablate.config.validate import generation_problems
from tests.support.cli import clean_env, run_ablate
from tests.unit.config.test_load import SWEEP, problems_at, problems_of, write_pair

REPO = Path(__file__).resolve().parents[3]
INSTALL = 'pip install -e ".[vllm]"'


@pytest.fixture
def vllm_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))


@pytest.fixture
def vllm_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)


def test_the_default_backend_is_hf(tmp_path: Path) -> None:
    assert load_config(write_pair(tmp_path)).generation.backend == "hf"


def test_an_unknown_backend_names_the_field_and_the_choices(tmp_path: Path) -> None:
    problems = problems_at(
        problems_of(write_pair(tmp_path), ["generation.backend=vlm"]), "generation.backend"
    )
    assert len(problems) == 1, problems
    assert "['hf', 'vllm']" in problems[0] and "Did you mean 'vllm'?" in problems[0]


def test_vllm_without_the_package_says_what_to_install(tmp_path: Path, vllm_absent: None) -> None:
    overrides = ["generation.backend=vllm", "resources.gpus_per_trial=1"]
    (problem,) = problems_at(problems_of(write_pair(tmp_path), overrides), "generation.backend")
    assert INSTALL in problem and "generation.backend=hf" in problem


def test_vllm_needs_a_whole_gpu_per_trial(tmp_path: Path, vllm_present: None) -> None:
    for gpus in ("0", "0.5"):
        overrides = ["generation.backend=vllm", f"resources.gpus_per_trial={gpus}"]
        (problem,) = problems_at(problems_of(write_pair(tmp_path), overrides), "generation.backend")
        assert "resources.gpus_per_trial >= 1" in problem


def test_vllm_with_the_package_and_a_gpu_is_valid(tmp_path: Path, vllm_present: None) -> None:
    overrides = ["generation.backend=vllm", "resources.gpus_per_trial=1"]
    assert load_config(write_pair(tmp_path), overrides).generation.backend == "vllm"


def test_an_arm_that_switches_to_vllm_is_checked_as_an_arm(
    tmp_path: Path, vllm_absent: None
) -> None:
    sweep = {**SWEEP, "sweep": {**SWEEP["sweep"]}}
    sweep["sweep"]["arms"] = {
        "a": {"pool": "synthetic"},
        "b": {"pool": "synthetic", "overrides": {"generation.backend": "vllm"}},
    }
    problems = problems_of(write_pair(tmp_path, sweep=sweep), ["resources.gpus_per_trial=1"])
    assert [p for p in problems if "sweep.arms.b.overrides" in p and INSTALL in p], problems


def test_the_check_looks_the_package_up_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    config = load_config(write_pair(tmp_path), ["resources.gpus_per_trial=1"])
    config.generation.backend = "vllm"
    generation_problems(config)
    assert "vllm" not in sys.modules or sys.modules["vllm"] is None


@pytest.mark.skipif(find_spec("vllm") is not None, reason="vllm is installed here")
def test_validate_refuses_vllm_without_the_package_exit_2_no_traceback(tmp_path: Path) -> None:
    done = run_ablate(
        "validate",
        str(REPO / "sweeps" / "quickstart.yaml"),
        "generation.backend=vllm",
        "resources.gpus_per_trial=1",
        cwd=tmp_path,
        env=clean_env(),
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "generation.backend" in done.stderr and INSTALL in done.stderr
