"""The branching factor from samples' entropy sums (ablate.branching), against values computed
by hand: exp of the mean over prompts of each prompt's mean next-token entropy."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ablate.branching import (
    ENTROPY_FIELDS,
    FIRST_POSITIONS,
    branching_metrics,
    prompt_mean_entropies,
    sample_entropy,
)
from ablate.records import Sample

LN2, LN4 = math.log(2), math.log(4)
# Step entropies of two toy distributions: (1/2, 1/2) has ln 2 nats; (1/2, 1/4, 1/4) has
# 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2.
HALVES, HALF_QUARTERS = LN2, 1.5 * LN2


def _sample(prompt_id: str, entropies: list[float]) -> Sample:
    n = len(entropies)
    row: Sample = {
        "prompt_id": prompt_id,
        "prompt": "?",
        "sample": 0,
        "response": "",
        "n_tokens": n,
        "stopped": False,
    }
    row.update(sample_entropy(entropies, n))
    return row


def test_the_sample_fields_are_declared_on_the_sample_record() -> None:
    assert set(ENTROPY_FIELDS) <= set(Sample.__annotations__)


def test_a_samples_sums_keep_its_own_positions_and_drop_the_padding_after_them() -> None:
    # A row that stopped at its second step: the batch ran on, the later entropies are not its.
    row = [HALVES, HALF_QUARTERS, 99.0, 99.0]
    assert sample_entropy(row, 2) == {
        "entropy_sum": pytest.approx(2.5 * LN2),
        "entropy_tokens": 2,
        "entropy_first_sum": pytest.approx(2.5 * LN2),
        "entropy_first_tokens": 2,
    }
    assert sample_entropy(row, 0)["entropy_tokens"] == 0
    with pytest.raises(ValueError, match="5 positions"):
        sample_entropy(row, 5)


def test_the_first_positions_are_the_first_sixteen() -> None:
    row = [1.0] * FIRST_POSITIONS + [3.0] * 4
    sums = sample_entropy(row, len(row))
    assert (sums["entropy_sum"], sums["entropy_tokens"]) == (FIRST_POSITIONS + 12.0, 20)
    assert (sums["entropy_first_sum"], sums["entropy_first_tokens"]) == (16.0, 16)


def test_uniform_over_four_tokens_branches_four_ways() -> None:
    samples = [_sample("a", [LN4] * 5), _sample("b", [LN4] * 3)]
    metrics = branching_metrics(samples, 0.95, 200, 0)
    assert metrics["branching_factor"] == pytest.approx(4.0)
    assert metrics["branching_factor_first"] == pytest.approx(4.0)
    # Every prompt alike: the interval is the point.
    assert metrics["branching_factor_ci_low"] == pytest.approx(4.0)
    assert metrics["branching_factor_ci_high"] == pytest.approx(4.0)


def test_a_two_step_sequence_and_prompts_weighing_equally() -> None:
    """Prompt a: one sample, steps (1/2, 1/2) then (1/2, 1/4, 1/4): mean 1.25 ln 2.
    Prompt b: uniform over 4 for 3 steps: 2 ln 2. exp((1.25 + 2) / 2 * ln 2) = 2 ** 1.625."""
    samples = [_sample("a", [HALVES, HALF_QUARTERS]), _sample("b", [LN4] * 3)]
    metrics = branching_metrics(samples, 0.95, 500, 0)
    assert metrics["branching_factor"] == pytest.approx(2**1.625)  # 3.0844
    assert metrics["branching_prompts"] == 2
    assert metrics["branching_factor_ci_low"] <= metrics["branching_factor"]
    assert metrics["branching_factor"] <= metrics["branching_factor_ci_high"]


def test_a_prompts_samples_pool_their_positions() -> None:
    """Within a prompt every position weighs the same: (2 * ln 2 + 4 * ln 4) / 6 = 5/3 ln 2."""
    samples = [_sample("a", [LN2] * 2), _sample("a", [LN4] * 4)]
    assert prompt_mean_entropies(samples) == pytest.approx([5 / 3 * LN2])
    assert branching_metrics(samples, 0.95, 200, 0)["branching_factor"] == pytest.approx(
        2 ** (5 / 3)
    )


def test_the_first_positions_figure_reads_only_the_opening() -> None:
    opening, rest = [LN4] * FIRST_POSITIONS, [0.0] * 16  # sure of itself after the opening
    samples = [_sample("a", opening + rest), _sample("b", opening + rest)]
    metrics = branching_metrics(samples, 0.95, 200, 0)
    assert metrics["branching_factor_first"] == pytest.approx(4.0)
    assert metrics["branching_factor"] == pytest.approx(2.0)  # exp(ln 4 / 2)


def test_one_prompt_has_a_value_but_no_interval() -> None:
    metrics = branching_metrics([_sample("a", [LN4] * 2)], 0.95, 200, 0)
    assert metrics == {
        "branching_factor": pytest.approx(4.0),
        "branching_factor_first": pytest.approx(4.0),
        "branching_prompts": 1,
    }


def test_samples_without_entropy_sums_give_no_branching_factor() -> None:
    """Samples written before the sums were kept, or by the vllm backend: nothing, no error."""
    bare: Any = {"prompt_id": "a", "prompt": "?", "sample": 0, "response": "", "n_tokens": 2}
    old: list[Any] = [{**bare, "stopped": True}, {**bare, "prompt_id": "b", "stopped": False}]
    assert branching_metrics(old, 0.95, 200, 0) == {}
    assert branching_metrics([_sample("c", [LN2]), *old], 0.95, 200, 0) == {}
    assert branching_metrics([], 0.95, 200, 0) == {}
