"""The three LIMA sweeps: they validate and plan as shipped, and their CPU-sized variants
(the README's commands) run end to end on synthetic dumps through Ray and MLflow."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LIMA_TEST = REPO.parent / "shared" / "data" / "lima_test.jsonl"
SWEEPS = ("diversity", "quality", "quantity")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return clean_env(ABLATE_CACHE=str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    folder = tmp_path_factory.mktemp("dumps")
    done = ablate("data", "synth-dumps", str(folder), env=env, cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def cpu_overrides(dumps: Path, name: str) -> list[str]:
    return [
        "experiment=" + str(REPO / "experiments" / "lima-cpu.yaml"),
        f"name={name}",
        f"pools.se_filtered.path={dumps / 'stackexchange'}",
        f"pools.se_unfiltered.path={dumps / 'stackexchange'}",
        f"pools.wikihow.path={dumps / 'wikihow.csv'}",
    ]


@pytest.mark.parametrize("sweep", SWEEPS)
def test_lima_sweeps_validate_and_plan_as_shipped(
    sweep: str, env: dict[str, str], tmp_path: Path
) -> None:
    path = str(REPO / "sweeps" / f"{sweep}.yaml")
    validated = ablate("validate", path, env=env, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "Traceback" not in validated.stderr
    extra = [f"evaluation.prompts.path={LIMA_TEST}"] if LIMA_TEST.is_file() else []
    planned = ablate("plan", path, *extra, env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "train tokens" in planned.stdout and "judge calls" in planned.stdout
    if LIMA_TEST.is_file():  # LIMA's protocol: 300 prompts x 5 samples per trial
        assert "1,500" in planned.stdout
    assert list(tmp_path.iterdir()) == [], "plan writes nothing"


@pytest.mark.parametrize(
    ("sweep", "sizes", "arms"),
    [
        ("diversity", "[32]", {"stackexchange", "wikihow"}),
        ("quantity", "[16,32]", {"filtered"}),
    ],
)
def test_cpu_variant_runs_end_to_end_on_synthetic_dumps(
    sweep: str, sizes: str, arms: set[str], dumps: Path, env: dict[str, str], tmp_path: Path
) -> None:
    results = tmp_path / "results"
    done = ablate(
        "run",
        str(REPO / "sweeps" / f"{sweep}.yaml"),
        *cpu_overrides(dumps, f"{sweep}-cpu"),
        f"sweep.sizes={sizes}",
        "sweep.seeds=[0]",
        "--results-dir",
        str(results),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((results / f"{sweep}-cpu" / "summary.csv").open()))
    assert {r["arm"] for r in rows} == arms
    assert all(r["status"] == "done" and float(r["heldout_loss"]) > 0 for r in rows)
    manifests = list((results / "pools").glob("*/manifest.json"))
    assert len(manifests) == len({r["pool"] for r in rows})
    # One seed per cell: the report says training randomness was not measured.
    assert "training randomness is not measured" in (
        results / f"{sweep}-cpu" / "report" / "report.md"
    ).read_text()


def test_a_truncated_dump_stops_with_file_and_line_and_leaves_no_pool(
    dumps: Path, env: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "stackexchange"
    site = next(p for p in (dumps / "stackexchange").iterdir() if p.is_dir())
    (broken / site.name).mkdir(parents=True)
    text = (site / "Posts.xml").read_bytes()
    (broken / site.name / "Posts.xml").write_bytes(text[: len(text) // 2])
    results = tmp_path / "results"
    done = ablate(
        "data",
        "prepare",
        str(REPO / "experiments" / "lima-cpu.yaml"),
        f"pools.se_filtered.path={broken}",
        f"pools.se_unfiltered.path={broken}",
        f"pools.wikihow.path={dumps / 'wikihow.csv'}",
        "--results-dir",
        str(results),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Posts.xml" in done.stderr and "line" in done.stderr
    pools = results / "pools"
    assert not list(pools.glob("stackexchange-*")), "no half-written pool"
    assert not [p for p in pools.iterdir() if p.name.startswith(".")] if pools.exists() else True
