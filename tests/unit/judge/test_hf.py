"""The in-process judge on the tiny builtin model (inference only, no training): its six level
tokens, a normalised distribution and its expected score, independence from batch neighbours,
cutting a long answer while keeping the rubric, and the level-mass threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ablate.data.fixtures.synthetic import synthetic_records
from ablate.judge.hf import HFJudge, level_token_ids
from ablate.judge.modes import judge_mode
from ablate.judge.rubric import LIKERT_LEVELS, LIKERT_RUBRIC, render_likert
from ablate.models.load import load_tokenizer
from ablate.stages.score import judge_metrics

TINY = "builtin:tiny"


@pytest.fixture(scope="module")
def judge(tiny_cache: Path) -> HFJudge:
    return HFJudge(TINY, "float32", batch_size=2, max_input_tokens=4096, device="cpu")


def _samples(n: int) -> list[dict[str, Any]]:
    return [
        {"prompt_id": r["id"], "sample": k, "prompt": r["prompt"], "response": r["response"][:200]}
        for r in synthetic_records(n, 9, "eval")
        for k in range(2)
    ]


def test_level_token_ids_are_six_distinct_single_tokens(tiny_cache: Path) -> None:
    tokenizer = load_tokenizer(TINY)
    prefix = render_likert("q", "a")
    ids = level_token_ids(tokenizer, prefix)
    assert len(ids) == 6 and len(set(ids)) == 6
    for level, token_id in zip(LIKERT_LEVELS, ids, strict=True):
        assert tokenizer.decode([token_id]).strip() == level


def test_judge_gives_a_normalised_distribution_and_its_expected_score(judge: HFJudge) -> None:
    samples = _samples(3)  # 6 samples, three batches of 2
    judgments = judge.judge(samples)
    assert len(judgments) == len(samples)
    for sample, j in zip(samples, judgments, strict=True):
        assert (j["prompt_id"], j["sample"]) == (sample["prompt_id"], sample["sample"])
        assert list(j["distribution"]) == list(LIKERT_LEVELS)
        assert sum(j["distribution"].values()) == pytest.approx(1.0, abs=1e-9)
        assert all(p >= 0 for p in j["distribution"].values())
        expected = sum(int(level) * p for level, p in j["distribution"].items())
        assert j["score"] == pytest.approx(expected, abs=1e-6)
        assert 1.0 <= j["score"] <= 6.0
        assert 0.0 < j["level_mass"] <= 1.0
        assert j["scored"] is True and j["reason"] is None
        assert j["judge_model"] == TINY and j["judge_backend"] == "hf"
        assert j["rubric_version"] == judge_mode("likert").version
        assert sample["prompt"] in j["judge_prompt"]
        assert sample["response"] in j["judge_prompt"]
        assert j["judge_prompt"] == render_likert(sample["prompt"], sample["response"])
        assert j["answer_truncated"] is False


def test_judge_score_does_not_depend_on_batch_neighbours(judge: HFJudge) -> None:
    short = {"prompt_id": "a", "sample": 0, "prompt": "Q?", "response": "Short."}
    long = {
        "prompt_id": "b",
        "sample": 0,
        "prompt": "How do I sear a steak?",
        "response": "Heat the pan until it smokes. " * 20,
    }
    alone = judge.judge([short])[0]
    beside = judge.judge([short, long])[0]  # left-padded next to a longer prompt
    assert beside["score"] == pytest.approx(alone["score"], abs=1e-5)


def test_judge_cuts_a_long_answer_and_keeps_the_rubric(tiny_cache: Path) -> None:
    tokenizer = load_tokenizer(TINY)
    question = "How do I sear a steak in a cast iron pan?"
    answer = "Pat the steak dry, salt it well and let the pan get very hot first. " * 30
    rubric_only = len(tokenizer(render_likert(question, ""))["input_ids"])
    budget = rubric_only + 60
    assert len(tokenizer(render_likert(question, answer))["input_ids"]) > budget
    small = HFJudge(TINY, "float32", batch_size=2, max_input_tokens=budget, device="cpu")
    [j] = small.judge([{"prompt_id": "p", "sample": 0, "prompt": question, "response": answer}])
    assert j["answer_truncated"] is True
    prompt = j["judge_prompt"]
    assert len(tokenizer(prompt)["input_ids"]) <= budget
    head, tail = LIKERT_RUBRIC.split("{question}")[0], LIKERT_RUBRIC.split("{answer}")[1]
    assert prompt.startswith(head) and prompt.endswith(tail)  # the rubric is whole
    assert question in prompt
    kept = prompt.split("[Answer]\n", 1)[1].removesuffix(tail)
    assert kept.endswith(" [...]")
    assert len(kept.removesuffix(" [...]")) > 20
    assert answer.startswith(kept.removesuffix(" [...]"))
    assert 1.0 <= j["score"] <= 6.0


def test_judge_below_the_level_mass_threshold_is_unscored_with_a_reason(tiny_cache: Path) -> None:
    # The tiny random judge puts far less than half its probability on the six levels.
    strict = HFJudge(
        TINY, "float32", batch_size=2, max_input_tokens=4096, device="cpu", min_level_mass=0.5
    )
    sample = {"prompt_id": "p", "sample": 0, "prompt": "How?", "response": "Like this."}
    (judgment,) = strict.judge([sample])
    assert judgment["scored"] is False and judgment["score"] is None
    assert "min_level_mass=0.5" in judgment["reason"]
    assert judgment["level_mass"] < 0.5
    assert abs(sum(judgment["distribution"].values()) - 1) < 1e-6  # kept for inspection
    metrics = judge_metrics([judgment, {**judgment, "sample": 1}], 0.95, 100, 0)
    assert metrics["judge_unscored"] == 2 and metrics["judge_mean"] is None


def test_batches_sorted_by_length_keep_the_samples_order_and_full_logits_scores(
    judge: HFJudge,
) -> None:
    """Sorting by length and keeping only the last position's logits change neither which
    judgment belongs to which sample nor the probabilities a plain forward pass gives."""
    import torch

    samples = _samples(3)
    for k, s in enumerate(samples):  # lengths that sorting reorders
        s["response"] = s["response"][: 20 + 37 * ((k * 5) % 6)]
    judgments = judge.judge(samples)
    assert [(j["prompt_id"], j["sample"]) for j in judgments] == [
        (s["prompt_id"], s["sample"]) for s in samples
    ]
    for sample, j in zip(samples, judgments, strict=True):
        ids = judge.tokenizer(j["judge_prompt"], return_tensors="pt")
        with torch.no_grad():
            logits = judge.model(**ids).logits[0, -1].float()  # every position, then the last
        probs = torch.softmax(logits, dim=-1)[judge.level_ids]
        assert j["level_mass"] == pytest.approx(float(probs.sum()), rel=1e-4), sample
