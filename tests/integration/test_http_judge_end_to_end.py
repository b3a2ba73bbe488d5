"""The HTTP judge through the whole pipeline: `ablate run` with the openai backend pointed at a
real chat-completions server on loopback (tests/support/chat_server.py) whose faults are
injected by script, then `ablate judge` re-scoring from the cache and in pairwise mode.
The server is real; only its answers and faults are scripted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.support.chat_server import (
    Behaviour,
    ChatServer,
    Hang,
    Malformed,
    Ok,
    RecordedRequest,
    Status,
)
from tests.support.cli import clean_env
from tests.support.cli import run_ablate as ablate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
KEY_VAR, KEY = "ABLATE_TEST_JUDGE_KEY", "sk-test-NEVER-WRITE-THIS-9f3c2a"
PROMPTS, SAMPLES = 4, 2  # per trial; 2 trials -> 16 responses


def verdict_for(request: RecordedRequest) -> Ok:
    """A judge that reasons, then ends with a verdict in the format the template asks for."""
    text = request.messages[-1]["content"]
    if "[Response A]" in text:
        return Ok("Both are fine, but the first is clearer.\nA")
    if "Excellent" in text and "[Response]" in text:
        return Ok("It answers the question.\nPass")
    if "Reply with only" in text:  # a repair request
        return Ok("4")
    return Ok("Relevant and detailed, a little repetitive.\n4")


def write_sweep(folder: Path, base_url: str) -> Path:
    sweep = folder / "httpjudge.yaml"
    sweep.write_text(f"""
name: httpjudge
experiment: {REPO / "experiments" / "tiny.yaml"}
pools:
  other: {{source: synthetic, size: 100, seed: 5}}
judge:
  backend: openai
  model: test-judge-1
  base_url: {base_url}
  api_key_env: {KEY_VAR}
  max_concurrency: 4
  timeout_s: 2
  max_retries: 3
  price_prompt_per_million: 1.0
  price_completion_per_million: 2.0
training: {{epochs: 1, batch_size: 4, micro_batch_size: 4}}
generation: {{max_new_tokens: 8, samples_per_prompt: {SAMPLES}}}
evaluation: {{prompts: {{size: {PROMPTS}}}, bootstrap_resamples: 200}}
resources: {{max_retries: 0, max_concurrent_trials: 1}}
sweep:
  arms:
    synthetic: {{pool: synthetic}}
    other: {{pool: other}}
  sizes: [8]
  seeds: [0]
""")
    return sweep


def judgments(sweep_dir: Path, judge: str) -> list[dict]:
    rows = []
    for path in sorted(sweep_dir.glob(f"trials/*/judge/{judge}/judgments.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def metrics(sweep_dir: Path, judge: str) -> list[dict]:
    return [
        json.loads(p.read_text()) for p in sweep_dir.glob(f"trials/*/score/{judge}/metrics.json")
    ]


def assert_key_nowhere(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the API key leaked into {path}"


def test_http_judge_scores_everything_caches_and_never_leaks_the_key(tmp_path: Path) -> None:
    env = clean_env(ABLATE_CACHE=str(tmp_path / "cache"), **{KEY_VAR: KEY})
    # Faults first, then a reply with no verdict (repaired), then a truncated one.
    script: list[Behaviour] = [
        Status(429, "slow down", headers={"Retry-After": "1"}),
        Status(500, "oops"),
        Hang(5.0),
        Malformed("{not json"),
        Ok("I would say it is good but"),
        Ok("Relevant, detail", finish_reason="length"),
    ]
    # The sweep trains two trials and runs `ablate` four times: two minutes on a quiet machine,
    # several times that on a loaded one. The default lifetime (300 s) once ran out mid-sweep:
    # the server closed its port and every judge call failed with "ConnectError: All
    # connection attempts failed". The lifetime is only a safety net; this one never runs out.
    with ChatServer(script=script, default=verdict_for, max_lifetime_s=3600) as server:
        results = tmp_path / "results"
        run = ablate(
            "run",
            str(write_sweep(tmp_path, server.url)),
            "--results-dir",
            str(results),
            env=env,
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr
        sweep_dir = results / "httpjudge"
        (likert,) = {row["judge"] for row in csv.DictReader((sweep_dir / "summary.csv").open())}
        assert likert.startswith("likert-test-judge-1-"), "<mode>-<model>-<settings hash>"
        judged = judgments(sweep_dir, likert)
        assert len(judged) == 2 * PROMPTS * SAMPLES, "none is lost"
        assert all(j["scored"] or j["reason"] for j in judged)
        assert all(j["score"] is None or 1 <= j["score"] <= 6 for j in judged)
        first = metrics(sweep_dir, likert)
        assert sum(m["judge_retries"] for m in first) == 4, "429, 500, hang, malformed: 4 retries"
        # The hang and the malformed 200 may have been billed unseen; 429 and 500 were answers.
        assert sum(m["judge_calls_maybe_repaid"] for m in first) == 2
        assert sum(m["judge_repairs"] for m in first) >= 1
        assert all(m["judge_cost_usd"] > 0 for m in first)
        assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests)
        calls_before = len(server.requests)

        # Re-running the judged sweep: nothing to do, no call.
        rerun = ablate(
            "run",
            str(tmp_path / "httpjudge.yaml"),
            "--results-dir",
            str(results),
            env=env,
            cwd=tmp_path,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "0 run now" in rerun.stdout
        assert len(server.requests) == calls_before, "a re-run makes zero judge calls"

        # Same requests under another judge name: every reply comes from the cache.
        again = ablate("judge", str(sweep_dir), "judge.name=again", env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == calls_before, "a cached request is never paid twice"
        cached = metrics(sweep_dir, "again")
        assert sum(m["judge_calls"] for m in cached) == 0
        assert sum(m["judge_cache_hits"] for m in cached) >= 2 * PROMPTS * SAMPLES
        assert (sweep_dir / "summary-again.csv").is_file()
        assert judgments(sweep_dir, likert) == judged, "never overwritten"

        pairwise = ablate(
            "judge",
            str(sweep_dir),
            "judge.mode=pairwise",
            "judge.reference_arm=other",
            env=env,
            cwd=tmp_path,
        )
        assert pairwise.returncode == 0, pairwise.stderr
        pair_texts = [r.messages[-1]["content"] for r in server.requests[calls_before:]]
        # Both orders of every (sample, reference) pair of the synthetic arm, each paid once:
        # two pairs that read the same (a sample equal to its reference) cost one call.
        assert len(set(pair_texts)) == len(pair_texts), "no pairwise request is paid twice"
        paired = metrics(sweep_dir, "pairwise-test-judge-1-*")
        # (the reference arm's trials are not judged against themselves: no call counts)
        asked = sum(m.get("judge_calls", 0) + m.get("judge_cache_hits", 0) for m in paired)
        assert asked == 2 * PROMPTS * SAMPLES, "both orders for the synthetic arm"
        assert sum(m.get("judge_calls", 0) for m in paired) == len(pair_texts)
        assert not server.expired.is_set()
        (summary,) = sweep_dir.glob("summary-pairwise-test-judge-1-*.csv")
        rows = list(csv.DictReader(summary.open()))
        compared = next(r for r in rows if r["arm"] == "synthetic")
        assert float(compared["judge_position_consistency"]) == 0.0  # always "A": order-dependent
        assert float(compared["judge_win_rate"]) == 0.0  # ... so every pair is a tie
        # Each prompt's reference tokens (the LC win rate's), as the reference arm counted them
        (lengths,) = sweep_dir.glob("trials/synthetic-*/score/pairwise-test-judge-1-*/"
                                    "reference_lengths.jsonl")  # fmt: skip
        counted = [json.loads(line) for line in lengths.read_text().splitlines()]
        assert len(counted) == PROMPTS and all(isinstance(r["n_tokens"], int) for r in counted)
        assert not list(sweep_dir.glob("trials/other-*/score/pairwise-*/reference_lengths.jsonl"))

    assert_key_nowhere(results)
    assert_key_nowhere(tmp_path / "cache")
