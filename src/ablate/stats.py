"""Intervals for LLM-judge scores: K sampled responses per prompt, some of them unscored.

The K responses to one prompt share that prompt's difficulty, so they are correlated; treating
them as independent understates the uncertainty. Every interval here therefore resamples (or
averages over) prompts, the unit that was actually sampled independently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

Scores = Sequence[Sequence[float | None]]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    method: str  # "cluster-bootstrap", "paired-cluster-bootstrap" or "t"
    confidence: float


@dataclass(frozen=True)
class ScoreSummary:
    """Mean judge score with two intervals and the counts behind them.

    ``mean`` is the cluster-bootstrap interval around the mean over all scored responses.
    ``t_interval`` is a t-interval over per-prompt means (the LIMA paper does not say how its
    interval was computed; this is the plain choice). Prompt means are used because prompts are
    independent draws while the responses to one prompt are not: a t-interval over responses
    would count K correlated samples as K independent ones and come out too narrow. Its estimate
    is the mean of prompt means, which differs from ``mean.estimate`` when prompts have unequal
    numbers of scored responses.

    With no scored response every estimate is nan; with fewer than 2 prompts having a scored
    response the intervals are (estimate, nan, nan), since no spread between prompts is observed.
    """

    mean: Interval
    t_interval: Interval
    n_prompts: int  # prompts with at least one scored response
    n_scored: int
    n_unscored: int


def _prompt_totals(scores_by_prompt: Scores) -> tuple[FloatArray, FloatArray, int]:
    """Per-prompt sums and counts of scored responses (count 0 for a prompt with none), and the
    number of unscored responses (None or NaN)."""
    sums = np.zeros(len(scores_by_prompt))
    counts = np.zeros(len(scores_by_prompt))
    n_unscored = 0
    for i, prompt in enumerate(scores_by_prompt):
        values = np.array([np.nan if s is None else s for s in prompt], dtype=float)
        if np.isinf(values).any():
            raise ValueError("scores must be finite, None or NaN")
        scored = values[~np.isnan(values)]
        n_unscored += values.size - scored.size
        sums[i], counts[i] = scored.sum(), scored.size
    return sums, counts, n_unscored


def _scored_prompts(scores_by_prompt: Scores) -> tuple[FloatArray, FloatArray]:
    """Sums and counts of the prompts with at least one scored response."""
    sums, counts, _ = _prompt_totals(scores_by_prompt)
    return sums[counts > 0], counts[counts > 0]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check(n_prompts: int, confidence: float, n_resamples: int = 2) -> None:
    _check_confidence(confidence)
    # scipy's bootstrap standard error needs 2 resamples (and an interval from 1 is meaningless).
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    if n_prompts < 2:
        raise ValueError(f"need at least 2 prompts with a scored response, got {n_prompts}")


def _bootstrap(
    data: tuple[FloatArray, ...],
    statistic: Callable[..., FloatArray],
    estimate: float,
    method: str,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Interval:
    """Bootstrap over prompts (rows of ``data`` resampled together)."""
    # Identical per-prompt values make every resample equal: report the point, not NaN from BCa
    # or a rounding-wide interval from the percentiles.
    if np.ptp(statistic(*(d[:, None] for d in data), axis=-1)) == 0:
        return Interval(estimate, estimate, estimate, method, confidence)
    # Batches of ~2M resampled values bound memory (resamples and BCa's n x (n-1) jackknife).
    batch = max(1, 2_000_000 // data[0].size)
    kwargs = {"paired": True, "vectorized": True, "confidence_level": confidence, "batch": batch}
    # BCa: scores are bounded (1-6) and pile up near the ceiling, so the bootstrap distribution
    # of the mean is skewed; BCa corrects skew and bias (second-order accurate), percentile does
    # not. BCa fails (NaN + DegenerateDataWarning) when no resample lies on one side of the
    # estimate (very few prompts or resamples); then fall back to percentile on the same resamples.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        rng = np.random.default_rng(seed)
        res = stats.bootstrap(
            data, statistic, n_resamples=n_resamples, method="BCa", rng=rng, **kwargs
        )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isfinite(low) and math.isfinite(high)):
            res = stats.bootstrap(
                data, statistic, n_resamples=0, method="percentile", bootstrap_result=res, **kwargs
            )
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Interval(estimate, low, high, method, confidence)


def _ratio(sums: FloatArray, counts: FloatArray, axis: int = -1) -> FloatArray:
    return np.asarray(sums.sum(axis=axis) / counts.sum(axis=axis))


def cluster_bootstrap_mean(
    scores_by_prompt: Scores, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> Interval:
    """Mean over all scored responses, with a bootstrap interval that resamples prompts.

    Each resample recomputes sum/count over the drawn prompts (a ratio estimator), which stays
    correct when prompts have different numbers of scored responses. Raises ValueError when
    fewer than 2 prompts have a scored response.
    """
    sums, counts = _scored_prompts(scores_by_prompt)
    _check(sums.size, confidence, n_resamples)
    estimate = float(sums.sum() / counts.sum())
    return _bootstrap(
        (sums, counts), _ratio, estimate, "cluster-bootstrap", confidence, n_resamples, seed
    )


def t_interval_of_prompt_means(scores_by_prompt: Scores, confidence: float = 0.95) -> Interval:
    """t-interval (n_prompts - 1 degrees of freedom) of the mean of per-prompt mean scores.

    Prompt means, not responses, because prompts are the independent draws (see ScoreSummary).
    Raises ValueError when fewer than 2 prompts have a scored response.
    """
    sums, counts = _scored_prompts(scores_by_prompt)
    _check(sums.size, confidence)
    means = sums / counts
    estimate = float(means.mean())
    sem = float(means.std(ddof=1)) / math.sqrt(means.size)
    # scipy's t distribution rejects scale 0; identical prompt means give a zero-width interval.
    half = 0.0 if sem == 0 else sem * float(stats.t.ppf((1 + confidence) / 2, means.size - 1))
    return Interval(estimate, estimate - half, estimate + half, "t", confidence)


def paired_difference(
    a_by_prompt: Scores,
    b_by_prompt: Scores,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Mean over prompts of (mean score of arm a - mean score of arm b), both arms judged on the
    same prompts in the same order, with a bootstrap over prompts.

    Pairing cancels each prompt's shared difficulty, so the interval is narrower than one built
    from the two arms separately. Prompts without a scored response in either arm are dropped;
    raises ValueError when fewer than 2 remain or the arms have different numbers of prompts.
    """
    if len(a_by_prompt) != len(b_by_prompt):
        raise ValueError(f"arms have {len(a_by_prompt)} and {len(b_by_prompt)} prompts")
    sa, ca, _ = _prompt_totals(a_by_prompt)
    sb, cb, _ = _prompt_totals(b_by_prompt)
    both = (ca > 0) & (cb > 0)
    d = sa[both] / ca[both] - sb[both] / cb[both]
    _check(d.size, confidence, n_resamples)
    return _bootstrap(
        (d,), np.mean, float(d.mean()), "paired-cluster-bootstrap", confidence, n_resamples, seed
    )


def summarize_scores(
    scores_by_prompt: Scores, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> ScoreSummary:
    """Both intervals and the counts; never raises for too little data (see ScoreSummary)."""
    _check_confidence(confidence)
    sums, counts, n_unscored = _prompt_totals(scores_by_prompt)
    n_prompts, n_scored = int(np.count_nonzero(counts)), int(counts.sum())
    if n_prompts >= 2:
        mean = cluster_bootstrap_mean(scores_by_prompt, confidence, n_resamples, seed)
        t_int = t_interval_of_prompt_means(scores_by_prompt, confidence)
    else:
        # 0 prompts: nothing to estimate; 1 prompt: a point but no between-prompt spread.
        estimate = float(sums.sum() / counts.sum()) if n_prompts else math.nan
        mean = Interval(estimate, math.nan, math.nan, "cluster-bootstrap", confidence)
        t_int = Interval(estimate, math.nan, math.nan, "t", confidence)
    return ScoreSummary(mean, t_int, n_prompts, n_scored, n_unscored)


# --- Shares, rates and losses: ratio estimators resampled by prompt ---------------------------


def _share_interval(
    hits: FloatArray,
    totals: FloatArray,
    method: str,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Interval:
    """sum(hits) / sum(totals) with a bootstrap over prompts (rows), for a share in [0, 1].

    The K responses to one prompt tend to get the same verdict, so a Wilson interval over
    responses counts K correlated draws as K independent ones and is too narrow. At a share of
    exactly 0 or 1 every resample repeats it and the bootstrap collapses to a point; then the
    interval is Clopper-Pearson with one trial per prompt, the effective sample size if all the
    responses to a prompt agreed (the true one lies between the prompts and the responses, so
    this is the conservative end)."""
    keep = totals > 0
    hits, totals = hits[keep], totals[keep]
    _check(hits.size, confidence, n_resamples)
    estimate = float(hits.sum() / totals.sum())
    if estimate in (0.0, 1.0):
        ci = stats.binomtest(round(estimate * hits.size), hits.size).proportion_ci(
            confidence, method="exact"
        )
        name = "clopper-pearson-over-prompts"
        return Interval(estimate, float(ci.low), float(ci.high), name, confidence)
    return _bootstrap((hits, totals), _ratio, estimate, method, confidence, n_resamples, seed)


def cluster_bootstrap_share(
    verdicts_by_prompt: Sequence[Sequence[str | None]],
    outcome: str,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Share of scored verdicts equal to ``outcome`` (None = unscored, left out), e.g. the win
    rate of a pairwise judge or the "excellent" share of an absolute one, resampling prompts.

    Raises ValueError when fewer than 2 prompts have a scored verdict."""
    hits = np.array([sum(v == outcome for v in p) for p in verdicts_by_prompt], dtype=float)
    totals = np.array([sum(v is not None for v in p) for p in verdicts_by_prompt], dtype=float)
    return _share_interval(hits, totals, "cluster-bootstrap-share", confidence, n_resamples, seed)


def outcome_shares(
    verdicts_by_prompt: Sequence[Sequence[str | None]],
    outcomes: Sequence[str],
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, Interval]:
    """``cluster_bootstrap_share`` for each outcome (win/tie/lose, excellent/pass/fail)."""
    return {
        o: cluster_bootstrap_share(verdicts_by_prompt, o, confidence, n_resamples, seed)
        for o in outcomes
    }


def unscored_rate_interval(
    scores_by_prompt: Scores, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> Interval:
    """Share of responses left unscored (None or NaN), resampling prompts: an unparseable judge
    reply tends to recur on the same prompt, so responses are not independent here either.
    Raises ValueError when fewer than 2 prompts have a response."""
    _, scored, _ = _prompt_totals(scores_by_prompt)
    totals = np.array([len(p) for p in scores_by_prompt], dtype=float)
    return _share_interval(
        totals - scored, totals, "cluster-bootstrap-share", confidence, n_resamples, seed
    )


def heldout_loss_interval(
    losses: ArrayLike,
    token_counts: ArrayLike | None = None,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Held-out loss of one trial from per-prompt (per-example) mean losses, resampling prompts.

    Without token counts the estimate is the mean over prompts; with them it is the
    token-weighted mean sum(loss_i * tokens_i) / sum(tokens_i), i.e. the loss per token over the
    whole held-out set, and each resample recomputes that ratio. Raises ValueError for
    non-finite losses, negative token counts or fewer than 2 prompts."""
    loss = np.asarray(losses, dtype=float)
    tokens = np.ones_like(loss) if token_counts is None else np.asarray(token_counts, float)
    if loss.shape != tokens.shape:
        raise ValueError(f"{loss.size} losses but {tokens.size} token counts")
    if not np.isfinite(loss).all() or not np.isfinite(tokens).all() or (tokens < 0).any():
        raise ValueError("losses and token counts must be finite, token counts >= 0")
    keep = tokens > 0
    sums, counts = loss[keep] * tokens[keep], tokens[keep]
    _check(sums.size, confidence, n_resamples)
    estimate = float(sums.sum() / counts.sum())
    return _bootstrap(
        (sums, counts), _ratio, estimate, "cluster-bootstrap", confidence, n_resamples, seed
    )


# --- Small pieces shared by the analysis ------------------------------------------------------


def holm(p_values: ArrayLike) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Sorted ascending, the i-th smallest (i = 0..m-1) becomes max over j <= i of
    min(1, (m - j) * p_(j)): rejecting where the adjusted p < alpha controls the family-wise
    error rate at alpha for any dependence between the tests, and is uniformly more powerful
    than Bonferroni."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    stepped = (p.size - np.arange(p.size)) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(stepped))
    return [float(a) for a in adjusted]


def satterthwaite_df(parts: Sequence[tuple[float, float]]) -> float:
    """Welch-Satterthwaite degrees of freedom of a variance estimate V = sum_i v_i, where each
    part v_i is a (signed) multiple of a mean square with df_i degrees of freedom:
    df = V^2 / sum_i (v_i^2 / df_i). Parts with v_i = 0 drop out; inf when nothing is left."""
    total = sum(v for v, _ in parts)
    spread = sum(v * v / df for v, df in parts if v != 0)
    return math.inf if spread == 0 else total * total / spread
