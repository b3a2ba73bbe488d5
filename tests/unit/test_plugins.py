"""Adding a judge mode or a pool source is one new module holding its spec and one
registration line: a toy mode and a toy source, written in a temporary module and registered
here, work through validation, planning, judging and pool building with nothing else changed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ablate.data.sources import POOL_SOURCES
from ablate.judge.modes import JUDGE_MODES

TOY_MODE = """
from ablate.judge.modes.spec import JudgeMode

def read(line):
    return line if line in ("yes", "no") else None

MODE = JudgeMode(
    "yesno", version=1, fields=("question", "answer"),
    user="Does this answer {answer} the question {question}? Say yes or no on the last line.",
    read=read, repair="Reply with only yes or no.", scores={"yes": 1.0, "no": 0.0},
)
"""
TOY_SOURCE = """
from ablate.data.sources.spec import PoolSource

def build(pool, split, stats, work_dir):
    for i in range(pool.size or 0):
        stats.seen += 1
        yield {"id": f"toy-{i}", "prompt": f"What is {i} + {i}?", "response": str(2 * i)}

SOURCE = PoolSource("toy", build, settings=("size",), direct=True)
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "toy_plugins").mkdir()
    (tmp_path / "toy_plugins" / "__init__.py").write_text("")
    (tmp_path / "toy_plugins" / "mode.py").write_text(TOY_MODE)
    (tmp_path / "toy_plugins" / "source.py").write_text(TOY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    # The one registration line each, as it would stand in ablate.judge.modes / data.sources.
    monkeypatch.setitem(JUDGE_MODES._entries, "yesno", "toy_plugins.mode")
    monkeypatch.setitem(POOL_SOURCES._entries, "toy", "toy_plugins.source")
    yield
    sys.modules.pop("toy_plugins.mode", None)
    sys.modules.pop("toy_plugins.source", None)


def test_a_new_mode_validates_parses_scores_and_counts_its_outcomes(plugins: None) -> None:
    from ablate.config.schema import Config, JudgeConfig
    from ablate.judge.checks import judge_problems
    from ablate.judge.parse import parse_verdict
    from ablate.judge.templates import builtin_template
    from ablate.stages.score import outcome_metrics

    judge = JudgeConfig(backend="openai", model="m", mode="yesno", base_url="http://x/v1")
    assert judge_problems(Config(name="x", judge=judge)) == []
    hf = JudgeConfig(backend="hf", model="m", mode="yesno")
    assert "does not grade 'yesno'" in judge_problems(Config(name="x", judge=hf))[0]
    assert parse_verdict("yesno", "Thinking...\n**Yes**").value == "yes"
    assert builtin_template("yesno").version == "yesno-v1"
    judgments = [
        {"prompt_id": f"p{i}", "scored": True, "verdict": "yes" if i % 4 else "no"}
        for i in range(20)
    ]
    metrics = outcome_metrics(judgments, "yesno", 0.95, 200, 0)
    assert metrics["judge_yes_rate"] == 0.75 and "judge_yes_rate_ci_low" in metrics


def test_a_new_source_validates_keys_and_builds_a_pool(plugins: None, tmp_path: Path) -> None:
    from ablate.config.schema import PoolConfig
    from ablate.data.pools import pool_key, prepare_pool, read_pool_records
    from ablate.data.sources import pool_problems

    assert pool_problems("pools.t", PoolConfig(source="toy", size=5)) == []
    assert pool_problems("pools.t", PoolConfig(source="toy", size=0)) == [
        "pools.t.size: must be > 0, got 0"
    ]
    assert pool_key(PoolConfig(source="toy", size=5)) != pool_key(PoolConfig(source="toy", size=6))
    assert pool_key(PoolConfig(source="toy", size=5, seed=1)) == pool_key(
        PoolConfig(source="toy", size=5, seed=2)
    ), "only the settings the source names key its pool"
    folder = prepare_pool("t", PoolConfig(source="toy", size=5), tmp_path / "pools")
    assert [r["response"] for r in read_pool_records(folder)] == ["0", "2", "4", "6", "8"]
