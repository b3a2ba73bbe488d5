"""Behaviour of the judge-score intervals in ablate.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from ablate.stats import (
    Interval,
    cluster_bootstrap_mean,
    cluster_bootstrap_share,
    heldout_loss_interval,
    outcome_shares,
    paired_difference,
    summarize_scores,
    t_interval_of_prompt_means,
    unscored_rate_interval,
)

# Any warning escaping the module (DegenerateDataWarning, numpy RuntimeWarning) fails a test.
# Numerical warnings are errors here; a ResourceWarning is not about these estimators (it
# comes from garbage-collecting another test's open file, whenever that happens to run).
pytestmark = pytest.mark.filterwarnings("error", "ignore::ResourceWarning")


def simulate(
    rng: np.random.Generator,
    n_prompts: int,
    k: int,
    mean: float,
    prompt_sd: float,
    noise_sd: float,
    unscored_rate: float = 0.0,
    prompt_effects: np.ndarray | None = None,
) -> list[list[float | None]]:
    """Scores = mean + prompt effect + response noise; some responses unscored at random."""
    effects = rng.normal(0, prompt_sd, n_prompts) if prompt_effects is None else prompt_effects
    scores = mean + effects[:, None] + rng.normal(0, noise_sd, (n_prompts, k))
    unscored = rng.random((n_prompts, k)) < unscored_rate
    return [
        [None if u else float(s) for s, u in zip(row, mask, strict=True)]
        for row, mask in zip(scores, unscored, strict=True)
    ]


def naive_response_bootstrap(
    scores_by_prompt: list[list[float | None]], rng: np.random.Generator, n_resamples: int
) -> tuple[float, float]:
    """The wrong interval: resample single responses as if they were independent."""
    flat = np.array([s for p in scores_by_prompt for s in p if s is not None])
    means = flat[rng.integers(0, flat.size, (n_resamples, flat.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def width(interval: Interval) -> float:
    return interval.high - interval.low


def test_cluster_bootstrap_covers_truth_and_naive_bootstrap_does_not() -> None:
    # Intra-prompt correlation 1 / (1 + 0.25) = 0.8, 10% of responses unscored.
    rng = np.random.default_rng(12345)
    truth, n_datasets = 4.0, 200
    cluster_hits = t_hits = naive_hits = 0
    for i in range(n_datasets):
        data = simulate(rng, 40, 4, truth, 1.0, 0.5, unscored_rate=0.1)
        ci = cluster_bootstrap_mean(data, n_resamples=1000, seed=i)
        ti = t_interval_of_prompt_means(data)
        naive = naive_response_bootstrap(data, rng, 1000)
        cluster_hits += ci.low <= truth <= ci.high
        t_hits += ti.low <= truth <= ti.high
        naive_hits += naive[0] <= truth <= naive[1]
    cluster_cov, t_cov, naive_cov = (h / n_datasets for h in (cluster_hits, t_hits, naive_hits))
    assert 0.90 <= cluster_cov <= 0.99, cluster_cov
    assert 0.90 <= t_cov <= 0.99, t_cov
    # Counting 4 correlated responses as independent shrinks the interval by about 45%.
    assert naive_cov < 0.85, naive_cov
    assert naive_cov < cluster_cov - 0.1, (naive_cov, cluster_cov)


def test_unscored_responses_are_excluded_from_the_mean_but_counted() -> None:
    data = [[1, None, 3], [float("nan"), 5], [None, None], []]
    summary = summarize_scores(data, n_resamples=1000)
    assert summary.mean.estimate == pytest.approx(3.0)  # (1 + 3 + 5) / 3
    assert summary.t_interval.estimate == pytest.approx(3.5)  # mean of prompt means 2 and 5
    assert (summary.n_prompts, summary.n_scored, summary.n_unscored) == (2, 3, 4)
    assert summary.mean.method == "cluster-bootstrap"
    assert summary.t_interval.method == "t"


def test_point_estimate_pools_responses_not_prompt_means() -> None:
    data = [[1, 1, 1, 1], [5]]
    assert cluster_bootstrap_mean(data, n_resamples=1000).estimate == pytest.approx(9 / 5)
    assert t_interval_of_prompt_means(data).estimate == pytest.approx(3.0)


def test_t_interval_matches_a_one_sample_t_interval_over_prompt_means() -> None:
    data = simulate(np.random.default_rng(3), 25, 3, 3.5, 0.8, 0.6, unscored_rate=0.2)
    prompt_means = [
        np.mean([s for s in p if s is not None]) for p in data if any(s is not None for s in p)
    ]
    expected = sps.ttest_1samp(prompt_means, 0.0).confidence_interval(0.9)
    got = t_interval_of_prompt_means(data, confidence=0.9)
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high))
    assert got.confidence == 0.9


def test_bootstrap_and_t_agree_on_large_balanced_data() -> None:
    data = simulate(np.random.default_rng(4), 300, 4, 4.0, 1.0, 0.5)
    summary = summarize_scores(data, n_resamples=2000)
    assert summary.mean.estimate == pytest.approx(summary.t_interval.estimate)
    assert summary.mean.low < summary.mean.estimate < summary.mean.high
    assert width(summary.mean) == pytest.approx(width(summary.t_interval), rel=0.1)
    assert summary.mean.low == pytest.approx(summary.t_interval.low, abs=0.02)


def test_higher_confidence_gives_wider_interval() -> None:
    data = simulate(np.random.default_rng(5), 50, 4, 4.0, 1.0, 0.5)
    narrow = cluster_bootstrap_mean(data, confidence=0.8, n_resamples=2000)
    wide = cluster_bootstrap_mean(data, confidence=0.99, n_resamples=2000)
    assert wide.low < narrow.low < narrow.high < wide.high


@pytest.mark.parametrize("data", [[[4, 4], [4, 4, 4], [4, None]], [[2, 4], [3, 3], [1, 5]]])
def test_identical_scores_or_prompt_means_collapse_the_interval(data: list) -> None:
    # Second case: different scores but equal prompt means, so every resample has mean 3.
    value = data[0][0] if data[0][0] == data[0][1] else 3.0
    summary = summarize_scores(data)
    for interval in (summary.mean, summary.t_interval):
        assert (interval.estimate, interval.low, interval.high) == (value, value, value)


def test_identical_differences_collapse_the_paired_interval() -> None:
    result = paired_difference([[5, 5], [3, 4], [2]], [[4, 4], [2, 3], [1]])
    assert (result.estimate, result.low, result.high) == (1.0, 1.0, 1.0)


def test_bca_failure_falls_back_to_percentile_without_warnings() -> None:
    # With 2 resamples that happen to be equal (seed 3), BCa's bias correction is infinite.
    data, seed = [[1], [2], [3]], 3
    rng = np.random.default_rng(seed)
    with pytest.warns(sps.DegenerateDataWarning), np.errstate(all="ignore"):
        bca = sps.bootstrap(([1.0, 2.0, 3.0],), np.mean, n_resamples=2, method="BCa", rng=rng)
    assert math.isnan(bca.confidence_interval.low)
    result = cluster_bootstrap_mean(data, n_resamples=2, seed=seed)
    resampled = float(bca.bootstrap_distribution[0])
    assert (result.low, result.high) == pytest.approx((resampled, resampled))


@pytest.mark.parametrize("data", [[[3, None]], [[3, 5], [None]], [[None], []], []])
def test_fewer_than_two_scored_prompts_raise_in_functions(data: list) -> None:
    with pytest.raises(ValueError, match="at least 2 prompts"):
        cluster_bootstrap_mean(data)
    with pytest.raises(ValueError, match="at least 2 prompts"):
        t_interval_of_prompt_means(data)
    with pytest.raises(ValueError, match="at least 2 prompts"):
        paired_difference(data, data)


def test_summary_of_one_scored_prompt_has_estimate_but_no_interval() -> None:
    summary = summarize_scores([[3, 5, None], [None]])
    assert (summary.n_prompts, summary.n_scored, summary.n_unscored) == (1, 2, 2)
    for interval in (summary.mean, summary.t_interval):
        assert interval.estimate == 4.0
        assert math.isnan(interval.low) and math.isnan(interval.high)


def test_summary_without_scored_responses_is_nan_with_counts() -> None:
    summary = summarize_scores([[None, None], [float("nan")]])
    assert (summary.n_prompts, summary.n_scored, summary.n_unscored) == (0, 0, 3)
    assert math.isnan(summary.mean.estimate) and math.isnan(summary.t_interval.estimate)


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    data = simulate(np.random.default_rng(6), 50, 4, 4.0, 1.0, 0.5, unscored_rate=0.1)
    first = summarize_scores(data, n_resamples=1000, seed=7)
    assert summarize_scores(data, n_resamples=1000, seed=7) == first
    other = summarize_scores(data, n_resamples=1000, seed=8)
    assert (other.mean.low, other.mean.high) != (first.mean.low, first.mean.high)
    assert other.t_interval == first.t_interval  # no randomness in the t-interval


def test_paired_difference_sign_and_width_against_unpaired() -> None:
    # Both arms share each prompt's difficulty (sd 1); arm a is better by 0.3.
    rng = np.random.default_rng(9)
    effects = rng.normal(0, 1.0, 60)
    a = simulate(rng, 60, 4, 4.3, 0, 0.5, unscored_rate=0.1, prompt_effects=effects)
    b = simulate(rng, 60, 4, 4.0, 0, 0.5, unscored_rate=0.1, prompt_effects=effects)
    ab = paired_difference(a, b, n_resamples=2000)
    ba = paired_difference(b, a, n_resamples=2000)
    assert ab.method == "paired-cluster-bootstrap"
    assert 0 < ab.low < 0.3 < ab.high
    assert ba.estimate == pytest.approx(-ab.estimate)
    assert (ba.low, ba.high) == pytest.approx((-ab.high, -ab.low))
    # Unpaired: the two arms' intervals combined as if independent.
    ia, ib = (cluster_bootstrap_mean(x, n_resamples=2000) for x in (a, b))
    assert ia.estimate - ib.estimate == pytest.approx(0.3, abs=0.1)
    assert width(ab) < 0.5 * math.hypot(width(ia), width(ib))
    assert ia.low < ib.high  # separately, the arms' intervals overlap


def test_paired_difference_drops_prompts_unscored_in_either_arm() -> None:
    a = [[5], [None], [4], [3, None]]
    b = [[1], [2], [None, None], [1]]
    assert paired_difference(a, b, n_resamples=100).estimate == pytest.approx(3.0)  # (4 + 2) / 2
    with pytest.raises(ValueError, match="prompts"):
        paired_difference(a, b[:3])


def test_invalid_arguments_are_rejected() -> None:
    data = [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="confidence"):
        cluster_bootstrap_mean(data, confidence=95)
    with pytest.raises(ValueError, match="confidence"):
        summarize_scores([[1]], confidence=0.0)
    with pytest.raises(ValueError, match="n_resamples"):
        cluster_bootstrap_mean(data, n_resamples=1)
    with pytest.raises(ValueError, match="finite"):
        cluster_bootstrap_mean([[1, float("inf")], [2]])


# --- shares, rates and held-out loss ----------------------------------------------------------


def verdicts(rng: np.random.Generator, n_prompts: int, k: int, correlated: bool) -> list[list]:
    """Win/lose verdicts with an overall win share near 0.5: either each prompt's k verdicts
    agree (its own coin) or every verdict is its own coin."""
    if correlated:
        return [["win" if rng.random() < 0.5 else "lose"] * k for _ in range(n_prompts)]
    return [["win" if rng.random() < 0.5 else "lose" for _ in range(k)] for _ in range(n_prompts)]


def test_share_interval_holds_the_plug_in_share_and_leaves_out_unscored() -> None:
    data = [["win", "lose", None], ["tie", "win"], [None], ["lose", "lose"], ["win"]]
    share = cluster_bootstrap_share(data, "win", n_resamples=2000)
    assert share.estimate == pytest.approx(3 / 7)
    assert share.low <= share.estimate <= share.high
    assert share.method == "cluster-bootstrap-share"
    shares = outcome_shares(data, ("win", "tie", "lose"), n_resamples=2000)
    assert sum(s.estimate for s in shares.values()) == pytest.approx(1.0)


def test_share_interval_widens_with_within_prompt_correlation() -> None:
    rng = np.random.default_rng(30)
    independent = cluster_bootstrap_share(verdicts(rng, 100, 5, False), "win", n_resamples=2000)
    correlated = cluster_bootstrap_share(verdicts(rng, 100, 5, True), "win", n_resamples=2000)
    # 5 agreeing verdicts carry the information of 1: about sqrt(5) = 2.2 times wider.
    assert width(correlated) > 1.8 * width(independent)
    # ...which a Wilson interval over all 500 responses would miss.
    k = round(correlated.estimate * 500)
    wilson = sps.binomtest(k, 500).proportion_ci(0.95, method="wilson")
    assert width(correlated) > 1.8 * (wilson.high - wilson.low)


def test_share_at_zero_or_one_falls_back_to_clopper_pearson_over_prompts() -> None:
    data = [["lose"] * 5 for _ in range(30)]
    share = cluster_bootstrap_share(data, "win")
    ref = sps.binomtest(0, 30).proportion_ci(0.95, method="exact")
    assert (share.estimate, share.low, share.high) == pytest.approx((0.0, 0.0, ref.high))
    assert share.method == "clopper-pearson-over-prompts"
    assert cluster_bootstrap_share(data, "lose").low == pytest.approx(1 - ref.high)


def test_unscored_rate_interval() -> None:
    data = [[1, None, 3], [None, None], [4, 5], [2]]
    rate = unscored_rate_interval(data, n_resamples=2000)
    assert rate.estimate == pytest.approx(3 / 8)
    assert rate.low <= rate.estimate <= rate.high
    none = unscored_rate_interval([[1, 2], [3]])
    assert none.estimate == 0.0 and none.low == 0.0 and 0 < none.high < 1


def test_heldout_loss_interval_token_weighted_and_plain() -> None:
    losses, tokens = [2.0, 1.0, 1.5, 3.0], [10, 30, 20, 0]
    weighted = heldout_loss_interval(losses, tokens, n_resamples=2000)
    assert weighted.estimate == pytest.approx((20 + 30 + 30) / 60)  # zero-token prompt out
    plain = heldout_loss_interval(losses, n_resamples=2000)
    assert plain.estimate == pytest.approx(7.5 / 4)
    assert plain.low < plain.estimate < plain.high
    with pytest.raises(ValueError, match="token counts"):
        heldout_loss_interval(losses, tokens[:3])
    with pytest.raises(ValueError, match="finite"):
        heldout_loss_interval([1.0, math.nan])
    with pytest.raises(ValueError, match="at least 2"):
        heldout_loss_interval([1.0])


def test_heldout_loss_interval_covers_the_mean() -> None:
    rng = np.random.default_rng(31)
    hits = 0
    for i in range(100):
        losses = rng.gamma(4.0, 0.5, 60)  # mean 2.0, skewed
        ci = heldout_loss_interval(losses, n_resamples=500, seed=i)
        hits += ci.low <= 2.0 <= ci.high
    assert hits >= 85
