"""A whole sweep's analysis: points, comparisons (Holm with more than two arms), fits, missing
cells, the held-out loss through the same contrasts, and the unscored flags."""

from __future__ import annotations

import math
import random

import pytest

from ablate.analysis.sweep import Design, TrialData, analyze_sweep
from ablate.stages.score import heldout_metrics, outcome_metrics

PROMPTS = [f"p{i}" for i in range(60)]


def trial(
    arm: str, n: int, seed: int, shift: float, rng: random.Random, unscored: float = 0.0
) -> TrialData:
    prompt = {p: rng.gauss(0, 0.5) for p in PROMPTS}
    scores = {
        p: [None if rng.random() < unscored else 3 + shift + prompt[p] + rng.gauss(0, 0.8)
            for _ in range(3)]
        for p in PROMPTS
    }  # fmt: skip
    tokens = {p: 5 + i % 7 for i, p in enumerate(PROMPTS)}  # the same references in every trial
    held = {
        p: (tokens[p] * (4.0 - 0.3 * math.log2(n) + rng.gauss(0, 0.2)), tokens[p]) for p in PROMPTS
    }
    loss = sum(s for s, _ in held.values()) / sum(t for _, t in held.values())
    return TrialData(arm, n, seed, scores, loss, held, {})


def sweep(arms: dict[str, float], sizes: list[int], seeds: list[int], skip=()) -> list[TrialData]:
    rng = random.Random(7)
    return [
        trial(a, n, s, shift, rng)
        for a, shift in arms.items()
        for n in sizes
        for s in seeds
        if (a, n, s) not in skip
    ]


def test_points_comparisons_and_fits_of_a_whole_sweep() -> None:
    design = Design(["a", "b"], [64, 128], [0, 1, 2])
    result = analyze_sweep(sweep({"a": 0.5, "b": 0.0}, [64, 128], [0, 1, 2]), design)
    assert [(p.arm, p.n_examples, p.seeds) for p in result.points] == [
        ("a", 64, (0, 1, 2)), ("a", 128, (0, 1, 2)), ("b", 64, (0, 1, 2)), ("b", 128, (0, 1, 2)),
    ]  # fmt: skip
    for point in result.points:
        assert point.judge is not None and point.judge.low < point.judge.estimate < point.judge.high
    sizes = [c.n_examples for c in result.comparisons]
    assert sizes == [64, 128, None]  # each size, then pooled over sizes
    for c in result.comparisons:
        assert (c.arm, c.baseline) == ("a", "b")
        assert c.verdict.kind == "difference" and c.contrast.low > 0  # a planted 0.5
        assert c.verdict.p_adjusted is None  # two arms: no Holm
    assert {(f.arm, f.metric) for f in result.fits} == {
        ("a", "judge_mean"), ("b", "judge_mean"), ("a", "heldout_loss"), ("b", "heldout_loss"),
    }  # fmt: skip
    assert result.missing == [] and result.notes == []


def test_held_out_points_equal_the_token_weighted_loss_of_their_trials() -> None:
    trials = sweep({"a": 0.0}, [64, 128], [0, 1])
    result = analyze_sweep(trials, Design(["a"], [64, 128], [0, 1]))
    for point in result.points:
        same = [t.heldout_loss for t in trials if t.n_examples == point.n_examples]
        assert point.heldout is not None
        assert point.heldout.estimate == pytest.approx(sum(same) / len(same))  # type: ignore[arg-type]
        assert point.heldout.low < point.heldout.estimate < point.heldout.high
    loss_fit = next(f for f in result.fits if f.metric == "heldout_loss")
    assert loss_fit.slope > 0 and loss_fit.verdict in ("falls with n", "no detectable trend")


def test_more_than_two_arms_are_holm_adjusted_and_a_baseline_narrows_the_pairs() -> None:
    trials = sweep({"a": 0.4, "b": 0.0, "c": 0.1}, [64], [0, 1])
    every_pair = analyze_sweep(trials, Design(["a", "b", "c"], [64], [0, 1]))
    assert [(c.arm, c.baseline) for c in every_pair.comparisons] == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    ]
    for c in every_pair.comparisons:
        assert c.verdict.p_adjusted is not None and c.verdict.p_adjusted >= c.contrast.p_value
    baseline = analyze_sweep(trials, Design(["a", "b", "c"], [64], [0, 1], baseline_arm="b"))
    assert [(c.arm, c.baseline) for c in baseline.comparisons] == [("a", "b"), ("c", "b")]


def test_a_partly_finished_sweep_names_its_missing_cells() -> None:
    design = Design(["a", "b"], [64, 128], [0, 1])
    trials = sweep({"a": 0.0, "b": 0.0}, [64, 128], [0, 1], skip={("b", 128, 0), ("b", 128, 1)})
    result = analyze_sweep(trials, design)
    assert result.missing == [("b", 128, 0), ("b", 128, 1)]
    assert result.point("b", 128) is None
    assert [c.n_examples for c in result.comparisons] == [64, None]  # 128 has no b to compare
    empty = analyze_sweep([], design)
    assert len(empty.missing) == 8 and empty.notes == ["no trial is done yet"]


def test_one_seed_says_training_randomness_is_not_measured() -> None:
    result = analyze_sweep(sweep({"a": 0.0, "b": 0.2}, [64], [0]), Design(["a", "b"], [64], [0]))
    assert any("training randomness is not measured" in n for n in result.notes)
    assert all(not c.contrast.seed_variance_measured for c in result.comparisons)


def test_arms_whose_unscored_rates_differ_are_flagged() -> None:
    rng = random.Random(3)
    trials = [trial("a", 64, s, 0.0, rng, unscored=0.02) for s in (0, 1)]
    trials += [trial("b", 64, s, 0.0, rng, unscored=0.4) for s in (0, 1)]
    result = analyze_sweep(trials, Design(["a", "b"], [64], [0, 1]))
    assert any("unscored rates differ between a and b" in n for n in result.notes), result.notes


def test_held_out_interval_resamples_prompts() -> None:
    rows = [
        {"prompt_id": f"p{i}", "loss_sum": 2.0 * (5 + i % 3), "tokens": 5 + i % 3}
        for i in range(20)
    ]
    metrics = heldout_metrics(rows, 0.95, 500, 0)
    assert metrics["heldout_loss_ci_low"] == pytest.approx(2.0)  # identical per-token losses
    rows[0] = {"prompt_id": "p0", "loss_sum": 50.0, "tokens": 5}
    metrics = heldout_metrics(rows, 0.95, 500, 0)
    assert metrics["heldout_loss_ci_low"] < metrics["heldout_loss_ci_high"]
    assert heldout_metrics(rows[:1], 0.95, 500, 0) == {}  # one prompt: no interval


def test_pairwise_shares_resample_prompts_not_responses() -> None:
    """The samples of a prompt share its verdict here (fully correlated): an interval over
    responses would be sqrt(K) too narrow; the prompt-resampling one is not."""
    judgments = [
        {"prompt_id": f"p{i}", "scored": True, "verdict": "win" if i % 2 else "lose"}
        for i in range(40)
        for _ in range(5)
    ]
    metrics = outcome_metrics(judgments, "pairwise", 0.95, 2000, 0)
    assert metrics["judge_win_rate"] == 0.5
    width = metrics["judge_win_rate_ci_high"] - metrics["judge_win_rate_ci_low"]
    # 40 independent prompts: half-width about 1.96 * sqrt(0.25 / 40) = 0.155.
    assert width > 0.25, width


def test_held_out_interval_matches_a_prompt_bootstrap_of_the_ratio() -> None:
    """One seed: the cell's interval is the trial's own, as wide as resampling prompts of the
    ratio sum(loss) / sum(tokens); long references carry large sums but no extra spread."""
    from ablate.stats import heldout_loss_interval

    rng = random.Random(5)
    tokens = {p: rng.choice([3, 40, 200]) for p in PROMPTS}  # very unequal reference lengths
    held = {p: (t * (2.0 + rng.gauss(0, 0.3)), t) for p, t in tokens.items()}
    loss = sum(s for s, _ in held.values()) / sum(tokens.values())
    scores = {p: [3.0, 3.5] for p in PROMPTS}
    result = analyze_sweep([TrialData("a", 64, 0, scores, loss, held)], Design(["a"], [64], [0]))
    point = result.point("a", 64)
    assert point is not None and point.heldout is not None
    assert point.heldout.estimate == pytest.approx(loss)
    boot = heldout_loss_interval(
        [s / t for s, t in held.values()], list(tokens.values()), 0.95, 4000, 0
    )
    width, boot_width = point.heldout.high - point.heldout.low, boot.high - boot.low
    assert 0.7 < width / boot_width < 1.4, (width, boot_width)
