"""The score stage's pure parts: judge scores grouped by prompt, the judge metrics with unscored
responses counted, and the sample metrics; pairwise, the references' tokens it records (and
the driver reads) for the length-controlled win rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import ArmConfig, Config, JudgeConfig, ModelConfig, PoolConfig, SweepSpec
from ablate.files import write_jsonl
from ablate.ledger import DONE, TrialLedger, trial_root
from ablate.plan import STAGES, Trial
from ablate.records import REFERENCE_LENGTHS, Sample
from ablate.results import reference_lengths as results_reference_lengths
from ablate.stages.context import TrialContext
from ablate.stages.score import judge_metrics, reference_lengths, sample_metrics, scores_by_prompt


def _judgment(prompt_id: str, score: float | None) -> dict[str, Any]:
    return {
        "prompt_id": prompt_id,
        "score": score,
        "scored": score is not None,
        "level_mass": 0.5 if score is not None else None,
    }


def test_scores_by_prompt_groups_in_order_and_maps_unscored_to_none() -> None:
    judgments = [
        _judgment("a", 4.0),
        _judgment("b", 2.0),
        _judgment("a", None),
        _judgment("b", 3.0),
        _judgment("c", None),
    ]
    judgments[2]["score"] = 1.0  # a score on an unscored row is ignored
    assert scores_by_prompt(judgments) == [[4.0, None], [2.0, 3.0], [None]]


def test_judge_metrics_counts_unscored() -> None:
    judgments = [
        _judgment("a", 4.0),
        _judgment("a", 5.0),
        _judgment("b", 2.0),
        _judgment("b", None),
        _judgment("c", 3.0),
        _judgment("c", None),
    ]
    m = judge_metrics(judgments, confidence=0.95, resamples=200, seed=0)
    assert m["judge_scored"] == 4
    assert m["judge_unscored"] == 2
    assert m["judge_unscored_rate"] == pytest.approx(2 / 6)
    assert m["judge_prompts"] == 3
    assert m["judge_mean"] == pytest.approx((4 + 5 + 2 + 3) / 4)
    assert m["judge_ci_low"] <= m["judge_mean"] <= m["judge_ci_high"]
    assert m["judge_level_mass"] == pytest.approx(0.5)


def test_judge_metrics_with_nothing_scored_gives_none_not_nan() -> None:
    m = judge_metrics([_judgment("a", None)], confidence=0.95, resamples=100, seed=0)
    assert m["judge_mean"] is None and m["judge_ci_low"] is None and m["judge_t_high"] is None
    assert (m["judge_scored"], m["judge_unscored"], m["judge_unscored_rate"]) == (0, 1, 1.0)
    assert m["judge_level_mass"] is None


def test_sample_metrics() -> None:
    samples = [{"n_tokens": 4, "stopped": True}, {"n_tokens": 8, "stopped": False}]
    assert sample_metrics(samples) == {
        "samples": 2,
        "response_tokens_mean": 6.0,
        "response_stopped_rate": 0.5,
    }


# --- Pairwise: the references' tokens (the length-controlled win rate's baseline) ------------


def _pairwise_context(root: Path, tiny_cache: Path, **judge: Any) -> TrialContext:
    config = Config(
        name="unit",
        model=ModelConfig(name_or_path="builtin:tiny"),
        judge=JudgeConfig(
            model="j", backend="openai", base_url="http://x/v1", mode="pairwise", **judge
        ),
        sweep=SweepSpec(
            arms={"a": ArmConfig(pool="syn"), "b": ArmConfig(pool="syn")}, sizes=[8], seeds=[0]
        ),
        pools={"syn": PoolConfig(source="synthetic", size=100, seed=0)},
    )
    trial = Trial("a", "syn", 8, 0, {stage: f"{stage}-1" for stage in STAGES})
    (root / "train").mkdir(parents=True)
    (root / "train" / "model").symlink_to(tiny_cache, target_is_directory=True)
    return TrialContext(config, trial, TrialLedger(root), {}, "cpu")


def _sample(prompt_id: str, sample: int, response: str, n_tokens: int) -> Sample:
    return {
        "prompt_id": prompt_id,
        "prompt": f"question {prompt_id}",
        "sample": sample,
        "response": response,
        "n_tokens": n_tokens,
        "stopped": True,
    }


def test_a_reference_file_is_counted_with_the_trials_tokenizer(
    tiny_cache: Path, tmp_path: Path
) -> None:
    from ablate.models.load import load_tokenizer

    texts = {"x": "A short reference.", "y": "A much longer reference response, with commas."}
    refs = tmp_path / "refs.jsonl"
    refs.write_text(
        "".join(json.dumps({"prompt_id": p, "response": t}) + "\n" for p, t in texts.items())
    )
    ctx = _pairwise_context(tmp_path / "a-n8-s0", tiny_cache, reference_file=str(refs))
    samples = [_sample(p, 0, "an answer", 3) for p in texts]
    found = reference_lengths(ctx, samples)
    tokenizer = load_tokenizer("builtin:tiny")
    # As generation counts a response: its text's own tokens, no special ones.
    assert found == [
        {"prompt_id": p, "n_tokens": len(tokenizer(t, add_special_tokens=False)["input_ids"])}
        for p, t in texts.items()
    ]
    assert found[0]["n_tokens"] < found[1]["n_tokens"]


def test_a_reference_arm_hands_over_its_first_samples_counts(
    tiny_cache: Path, tmp_path: Path
) -> None:
    ctx = _pairwise_context(tmp_path / "a-n8-s0", tiny_cache, reference_arm="b")
    reference = TrialLedger(tmp_path / "b-n8-s0").stage_dir("generate")
    reference.mkdir(parents=True)
    write_jsonl(
        reference / "samples.jsonl",
        [_sample("x", 1, "second", 9), _sample("x", 0, "first", 4), _sample("y", 0, "y", 7)],
    )
    (reference / DONE).write_text("{}")
    assert reference_lengths(ctx, []) == [
        {"prompt_id": "x", "n_tokens": 4},
        {"prompt_id": "y", "n_tokens": 7},
    ]
    ctx.trial = Trial("b", "syn", 8, 0, ctx.trial.stage_keys)  # the reference arm itself
    assert reference_lengths(ctx, []) is None


def test_other_modes_record_no_reference_lengths(tiny_cache: Path, tmp_path: Path) -> None:
    ctx = _pairwise_context(tmp_path / "a-n8-s0", tiny_cache, reference_arm="b")
    ctx.config.judge.mode = "likert"
    assert reference_lengths(ctx, []) is None


def test_the_driver_reads_the_reference_lengths(tmp_path: Path) -> None:
    trial = Trial("a", "syn", 8, 0, {stage: f"{stage}-1" for stage in STAGES})
    assert results_reference_lengths(tmp_path, trial) is None  # not pairwise, or scored before
    score = TrialLedger(trial_root(tmp_path, trial), trial.judge_name).stage_dir("score")
    score.mkdir(parents=True)
    (score / REFERENCE_LENGTHS).write_text(
        '{"prompt_id": "x", "n_tokens": 4}\n{"prompt_id": 7, "n_tokens": 9}\n{"prompt_id": "z"'
    )  # a line cut short by a crash is skipped
    assert results_reference_lengths(tmp_path, trial) == {"x": 4.0, "7": 9.0}


def test_the_driver_counts_a_reference_arms_tokens_when_the_score_stage_kept_none(
    tiny_cache: Path, tmp_path: Path
) -> None:
    """A judge.reference_arm sweep scored before reference_lengths.jsonl was kept: the driver
    takes the reference trial's first samples' tokens, the counts the score stage records."""
    trial = Trial("a", "syn", 8, 0, {stage: f"{stage}-1" for stage in STAGES})
    reference = TrialLedger(trial_root(tmp_path, Trial("b", "syn", 8, 0, {}))).stage_dir("generate")
    reference.mkdir(parents=True)
    write_jsonl(
        reference / "samples.jsonl",
        [_sample("x", 1, "second", 9), _sample("x", 0, "first", 4), _sample("y", 0, "y", 7)],
    )
    assert results_reference_lengths(tmp_path, trial, "b") is None  # generate not done
    (reference / DONE).write_text("{}")
    assert results_reference_lengths(tmp_path, trial) is None  # a reference file: the worker's
    assert results_reference_lengths(tmp_path, trial, "b") == {"x": 4.0, "y": 7.0}
    ctx = _pairwise_context(trial_root(tmp_path, trial), tiny_cache, reference_arm="b")
    recorded = {
        row["prompt_id"]: float(row["n_tokens"]) for row in reference_lengths(ctx, []) or []
    }
    assert recorded == results_reference_lengths(tmp_path, trial, "b")
    itself = Trial("b", "syn", 8, 0, trial.stage_keys)  # the reference arm is not compared
    assert results_reference_lengths(tmp_path, itself, "b") is None
    family = Trial("a-lr1", "syn", 8, 0, trial.stage_keys, family="lr1")  # no b-lr1 trial
    assert results_reference_lengths(tmp_path, family, "b") is None
    score = TrialLedger(trial_root(tmp_path, trial), trial.judge_name).stage_dir("score")
    score.mkdir(parents=True)
    (score / REFERENCE_LENGTHS).write_text('{"prompt_id": "x", "n_tokens": 5}\n')
    assert results_reference_lengths(tmp_path, trial, "b") == {"x": 5.0}  # the record wins
