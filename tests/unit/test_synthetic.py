"""Behaviour of the synthetic question/answer generator used for offline runs and tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from ablate.data.fixtures.synthetic import TOPICS, synthetic_records

STEM = {"python programming", "linear algebra", "astronomy", "chemistry"}
NON_STEM = {"cooking", "gardening", "personal finance", "travel", "photography", "music theory"}


def test_topics_are_many_and_span_stem_and_non_stem() -> None:
    assert len(TOPICS) >= 24
    assert len(set(TOPICS)) == len(TOPICS)
    assert set(TOPICS) >= STEM
    assert set(TOPICS) >= NON_STEM


@pytest.mark.parametrize("split", ["train", "eval"])
def test_same_arguments_give_identical_records(split: str) -> None:
    assert synthetic_records(300, 7, split) == synthetic_records(300, 7, split)


def test_records_do_not_depend_on_the_process_hash_seed() -> None:
    # hash() is salted per process; a fresh interpreter with another seed must agree.
    code = "from ablate.data.fixtures.synthetic import synthetic_records as s; print(s(50, 3)[49])"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": salt, "PYTHONPATH": os.pathsep.join(sys.path)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for salt in ("1", "2")
    }
    assert outs == {f"{synthetic_records(50, 3)[49]}\n"}


def test_different_seeds_give_different_records() -> None:
    a = [r["prompt"] for r in synthetic_records(100, 0)]
    b = [r["prompt"] for r in synthetic_records(100, 1)]
    assert a != b


@pytest.mark.parametrize("split", ["train", "eval"])
def test_prefix_stability(split: str) -> None:
    full = synthetic_records(500, 11, split)
    for m in (0, 1, 37, 499):
        assert synthetic_records(m, 11, split) == full[:m]


def test_train_and_eval_never_share_a_prompt() -> None:
    for seed in (0, 1):
        train = {r["prompt"] for r in synthetic_records(3000, seed, "train")}
        evals = {r["prompt"] for r in synthetic_records(3000, seed, "eval")}
        assert not train & evals
    # also across seeds: a pool from one seed and eval prompts from another stay disjoint
    assert not {r["prompt"] for r in synthetic_records(2000, 5, "train")} & {
        r["prompt"] for r in synthetic_records(2000, 6, "eval")
    }


@pytest.mark.parametrize("split", ["train", "eval"])
def test_all_topics_appear_and_prompts_are_mostly_unique(split: str) -> None:
    records = synthetic_records(2000, 0, split)
    counts = Counter(r["topic"] for r in records)
    assert set(counts) == set(TOPICS)
    assert len({r["prompt"] for r in records}) >= 0.9 * len(records)
    assert len({r["response"] for r in records}) >= 0.9 * len(records)


def test_fields_and_ids() -> None:
    records = synthetic_records(20, 4, "eval")
    for i, r in enumerate(records):
        assert set(r) == {"id", "prompt", "response", "topic"}
        assert all(isinstance(v, str) and v for v in r.values())
        assert r["id"] == f"eval-4-{i}"
        assert r["topic"] in TOPICS
        assert r["prompt"].strip() == r["prompt"]


@pytest.mark.parametrize("max_chars", [150, 220, 400, 600, 2000])
def test_response_length_bounds(max_chars: int) -> None:
    for r in synthetic_records(1500, 2, max_response_chars=max_chars):
        assert 80 <= len(r["response"]) <= max_chars


def test_truncation_keeps_whole_sentences_and_code_fences() -> None:
    for r in synthetic_records(1500, 9, max_response_chars=250):
        text = r["response"]
        assert text.endswith((".", "```")), text
        assert text.count("```") % 2 == 0


def test_default_cap_is_600_and_is_reached() -> None:
    lengths = [len(r["response"]) for r in synthetic_records(2000, 0)]
    assert max(lengths) <= 600
    assert max(lengths) > 500  # long answers exist, so the cap actually truncates


def test_questions_and_answers_come_in_several_forms() -> None:
    records = synthetic_records(2000, 1)
    prompts = [r["prompt"] for r in records]
    responses = [r["response"] for r in records]
    for marker in ("How do I", "Why ", "difference between", "explain", "went wrong", "recommend"):
        assert any(marker in p for p in prompts), marker
    assert any("\n1. " in t for t in responses)  # numbered steps
    assert any("\n- " in t for t in responses)  # bullet list
    assert any("\n" not in t for t in responses)  # a plain paragraph
    code = [r for r in records if "```" in r["response"]]
    assert code
    assert {r["topic"] for r in code} <= {
        "python programming",
        "javascript development",
        "sql databases",
        "linux command line",
    }


def test_content_follows_the_topic() -> None:
    records = synthetic_records(400, 3)
    cooking = " ".join(r["response"] for r in records if r["topic"] == "cooking")
    algebra = " ".join(r["response"] for r in records if r["topic"] == "linear algebra")
    assert "matrix" in algebra or "eigenvector" in algebra
    assert "matrix" not in cooking and "eigenvector" not in cooking


def test_zero_records() -> None:
    assert synthetic_records(0, 0) == []
    assert synthetic_records(0, 0, "eval") == []


def test_negative_n_is_rejected() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        synthetic_records(-1, 0)


@pytest.mark.parametrize("split", ["test", "validation", "Train", ""])
def test_unknown_split_is_rejected(split: str) -> None:
    with pytest.raises(ValueError, match="unknown split"):
        synthetic_records(5, 0, split)


def test_too_small_response_cap_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_response_chars"):
        synthetic_records(5, 0, max_response_chars=40)


def test_ten_thousand_records_are_all_made_and_distinct() -> None:
    # How fast this is, is a figure printed by benchmarks/bench_synthetic.py, not a test.
    records = synthetic_records(10_000, 0)
    assert len(records) == 10_000
    assert len({r["id"] for r in records}) == 10_000
