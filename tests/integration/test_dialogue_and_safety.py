"""LIMA's other checks end to end (`ablate run`, then `ablate judge`), with the HTTP judge on a
real loopback chat server (tests/support/chat_server.py) whose replies are scripted per
template: the safety mode on our sensitive prompts, and multi-turn dialogues continued by the
tiny model and judged turn by turn. One small sweep (one trial, real training on CPU) serves
every test here; the server is real, only its answers are scripted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.chat_server import ChatServer, Ok, RecordedRequest
from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SENSITIVE = REPO / "src" / "ablate" / "data" / "fixtures" / "sensitive_prompts.jsonl"
PROMPTS, SAMPLES, CONVERSATIONS, TURNS = 4, 2, 3, 2


def reply_for(request: RecordedRequest) -> Ok:
    """A judge that reasons, then ends with the verdict each template asks for (or none)."""
    text = request.messages[-1]["content"]
    if "[Conversation so far]" in text:
        if text.count("[User]") == 1:
            return Ok("A fine start.\nExcellent")
        return Ok("Forgets what was said.\nFail" if "Lisbon" in text else "Follows on.\nPass")
    if "(Safe or Unsafe)" in text:
        if "pick the lock" in text:
            return Ok("It should have refused.\nUnsafe")
        if "bank" in text:
            return Ok("I cannot tell")  # no verdict, and none after the repair request
        return Ok("It declines politely.\nSafe")
    if "(Excellent, Pass or Fail)" in text:
        return Ok("Adequate.\nPass")
    return Ok("Still unsure.")  # a repair request


def write_sweep(folder: Path, base_url: str) -> Path:
    sweep = folder / "lima_checks.yaml"
    sweep.write_text(f"""
name: limachecks
model: {{name_or_path: "builtin:tiny", dtype: float32}}
pools:
  synthetic: {{source: synthetic, size: 40, seed: 0}}
training: {{method: full, epochs: 1, learning_rate: 1.0e-3, final_learning_rate: 1.0e-4,
           batch_size: 4, micro_batch_size: 4, max_seq_length: 96}}
generation: {{max_new_tokens: 6, samples_per_prompt: {SAMPLES}, batch_size: 8}}
judge:
  backend: openai
  mode: safety
  model: test-judge-1
  base_url: {base_url}
  api_key_env: null
  timeout_s: 20
  max_retries: 2
evaluation:
  prompts: {{source: jsonl, path: {SENSITIVE}}}
  max_prompts: {PROMPTS}
  bootstrap_resamples: 200
  dialogues: {{max_conversations: {CONVERSATIONS}, max_turns: {TURNS}}}
tracking: {{enabled: false}}
resources: {{max_retries: 0, max_concurrent_trials: 1}}
sweep:
  arms:
    synthetic: {{pool: synthetic}}
  sizes: [8]
  seeds: [0]
""")
    return sweep


@dataclass
class Swept:
    server: ChatServer
    trial: Path  # the one trial's folder
    env: dict[str, str]
    cwd: Path


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def only(folder: Path, pattern: str) -> Path:
    [found] = folder.glob(pattern)
    return found


@pytest.fixture(scope="module")
def swept(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swept]:
    folder = tmp_path_factory.mktemp("lima-checks")
    env = clean_env(ABLATE_CACHE=str(tiny_cache.parents[1]))  # models/<name> under it
    # A whole `ablate run` (Ray, training) takes minutes on a loaded machine: the lifetime is
    # only a safety net, far above it.
    with ChatServer(default=reply_for, max_lifetime_s=3600) as server:
        run = ablate(
            "run", str(write_sweep(folder, server.url)), "--results-dir", "results",
            env=env, cwd=folder,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        trial = only(folder / "results" / "limachecks" / "trials", "*")
        yield Swept(server, trial, env, folder)
        assert not server.expired.is_set()


def test_safety_mode_reports_the_safe_share_with_an_interval(swept: Swept) -> None:
    judge_dir = only(swept.trial / "judge", "safety-test-judge-1-*")
    judged = rows(judge_dir / "judgments.jsonl")
    assert len(judged) == PROMPTS * SAMPLES, "every response judged, none lost"
    unscored = [j for j in judged if not j["scored"]]
    assert len(unscored) == SAMPLES and all("no verdict" in j["reason"] for j in unscored)
    m = json.loads((swept.trial / "score" / judge_dir.name / "metrics.json").read_text())
    assert m["judge_safe_rate"] == pytest.approx(4 / 6)  # 3 prompts scored, one answered unsafely
    assert m["judge_unsafe_count"] == 2 and m["judge_unscored"] == 2
    assert 0 <= m["judge_safe_rate_ci_low"] <= 4 / 6 <= m["judge_safe_rate_ci_high"] <= 1
    assert m["judge_mean"] == pytest.approx(4 / 6)  # safe 1, unsafe 0


def test_dialogues_are_continued_and_judged_turn_by_turn(swept: Swept) -> None:
    turns = rows(swept.trial / "generate" / "dialogues.jsonl")
    assert [(t["conversation"], t["turn"]) for t in turns] == [
        (c, k) for c in ("trip-plan", "recipe-scale", "python-help") for k in (1, 2)
    ]
    first, second = turns[0], turns[1]
    # The model's own first reply is in the context of the second turn.
    assert second["context"][:2] == [
        *first["context"],
        {"role": "assistant", "content": first["response"]},
    ]
    assert second["context"][2]["role"] == "user" and all(t["n_tokens"] <= 6 for t in turns)

    judge_dir = only(swept.trial / "judge", "safety-test-judge-1-*")
    judged = rows(judge_dir / "dialogue_judgments.jsonl")
    assert [(j["conversation"], j["turn"], j["verdict"]) for j in judged] == [
        ("trip-plan", 1, "excellent"), ("trip-plan", 2, "fail"),
        ("recipe-scale", 1, "excellent"), ("recipe-scale", 2, "pass"),
        ("python-help", 1, "excellent"), ("python-help", 2, "pass"),
    ]  # fmt: skip
    assert {j["mode"] for j in judged} == {"dialogue"}
    m = json.loads((swept.trial / "score" / judge_dir.name / "metrics.json").read_text())
    assert m["dialogue_turn1_excellent_rate"] == 1.0 and m["dialogue_turn2_excellent_rate"] == 0.0
    assert m["dialogue_excellent_rate"] == pytest.approx(3 / 6)
    assert m["dialogue_fail_rate"] == pytest.approx(1 / 6) and m["dialogue_unscored"] == 0
    for name in ("dialogue_excellent_rate", "dialogue_turn1_excellent_rate", "dialogue_fail_rate"):
        assert m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"], name
    assert m["dialogue_turn1_excellent_rate_ci_low"] < 1.0  # 3 conversations: not a point
    assert m["dialogue_judge_calls"] == CONVERSATIONS * TURNS
    report = (swept.trial.parents[1] / "report" / "report.md").read_text()
    assert "## Multi-turn dialogue" in report and "| turn 1 | turn 2 |" in report
    summary = (swept.trial.parents[1] / "summary.csv").read_text().splitlines()[0].split(",")
    assert "dialogue_excellent_rate" in summary and "judge_safe_rate" in summary


def test_another_judge_grades_the_same_turns_from_the_cache(swept: Swept) -> None:
    before = len(swept.server.requests)
    again = ablate(
        "judge", str(swept.cwd / "results" / "limachecks"), "judge.mode=absolute",
        env=swept.env, cwd=swept.cwd,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    judge_dir = only(swept.trial / "judge", "absolute-test-judge-1-*")
    m = json.loads((swept.trial / "score" / judge_dir.name / "metrics.json").read_text())
    # The turns' requests do not depend on the prompts' mode: every one is a cache hit.
    assert m["dialogue_judge_calls"] == 0
    assert m["dialogue_judge_cache_hits"] == CONVERSATIONS * TURNS
    assert m["judge_pass_rate"] == 1.0
    assert len(swept.server.requests) - before == PROMPTS * SAMPLES
