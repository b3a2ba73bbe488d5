"""Power-law fits of a metric against the number of examples (held-out loss, objective task
accuracy; arXiv 2410.03717), and the per-trial check that unscored responses look missing at
random."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ablate.stats import FloatArray, Interval, ScoreSummary

# --- Power law and the unscored check --------------------------------------------------------


@dataclass(frozen=True)
class PowerLaw:
    """value = prefactor * n ** (-exponent), fitted by least squares on log value vs log n."""

    prefactor: float
    exponent: float
    low: float  # interval of the exponent; nan when the fit has no residual df
    high: float
    se: float
    df: int
    n_sizes: int
    n_cells: int
    lack_of_fit_p: float | None  # F test of the power law; None without seeds at 3+ sizes
    method: str
    confidence: float


def _lack_of_fit_p(x: FloatArray, y: FloatArray, resid: FloatArray) -> float | None:
    """F test of lack of fit: residual SS split into pure error (seeds around their size's
    mean, df C - G) and the rest (means around the line, df G - 2)."""
    sizes = np.unique(x)
    pure = sum(float(((y[x == s] - y[x == s].mean()) ** 2).sum()) for s in sizes)
    df_pure, df_lof = x.size - sizes.size, sizes.size - 2
    if df_pure == 0 or df_lof == 0 or pure == 0:
        return None
    f = ((float((resid**2).sum()) - pure) / df_lof) / (pure / df_pure)
    return float(stats.f.sf(f, df_lof, df_pure))


def power_law_fit(n_values: ArrayLike, values: ArrayLike, confidence: float = 0.95) -> PowerLaw:
    """Power law through one value per cell (several seeds per size allowed), e.g. held-out
    loss (exponent > 0) or an objective task accuracy (arXiv 2410.03717: P ~ D^(1/b), so
    exponent = -1/b < 0).

    The t interval of the exponent uses the residuals of the log-log line (df = cells - 2):
    each cell is one trained model, so with several seeds per size the residuals carry the
    seed-to-seed scatter. With 2 sizes and 1 seed each the line is exact: no interval. With 2
    sizes and seeds the interval comes from the seeds alone. With 3+ sizes and 1 seed the
    residuals mix seeds and departures from a power law (not separable); with seeds too,
    ``lack_of_fit_p`` tests the power law itself."""
    n, v = np.asarray(n_values, float), np.asarray(values, float)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    finite = np.isfinite(n).all() and np.isfinite(v).all()
    if n.shape != v.shape or n.ndim != 1 or not (finite and (n > 0).all() and (v > 0).all()):
        raise ValueError("need as many n_values as values, all finite and positive")
    x = np.log(n)
    if np.unique(x).size < 2:
        raise ValueError("a power law needs values at 2 or more sizes")
    y = np.log(v)
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (y - y.mean())).sum()) / sxx
    intercept = float(y.mean()) - slope * float(x.mean())
    resid, df, n_sizes = y - intercept - slope * x, x.size - 2, int(np.unique(x).size)
    common = (math.exp(intercept), -slope)
    if df == 0:
        method = "2 cells: the line is exact; no interval (run several seeds per size for one)"
        return PowerLaw(*common, math.nan, math.nan, math.nan, 0, 2, 2, None, method, confidence)
    se = math.sqrt(float((resid**2).sum()) / df / sxx)
    half = se * float(stats.t.ppf((1 + confidence) / 2, df))
    if x.size == n_sizes:
        seeds = "seeds and power-law misfit, not separable with 1 seed per size"
    else:
        seeds = "seed scatter" + (" and power-law misfit" if n_sizes > 2 else "")
    method = f"log-log least squares, t interval ({df} df) from residuals: {seeds}"
    return PowerLaw(
        *common, -slope - half, -slope + half, se, df, n_sizes, int(x.size),
        _lack_of_fit_p(x, y, resid), method, confidence,
    )  # fmt: skip


@dataclass(frozen=True)
class UnscoredCheck:
    """Whether unscored responses look not missing at random in one trial."""

    pooled_mean: float
    prompt_mean: float
    half_width: float
    flagged: bool
    text: str


def unscored_check(pooled: Interval, prompt_mean: float) -> UnscoredCheck:
    """Flag when the pooled mean (over scored responses) and the mean of prompt means differ by
    more than half the pooled interval's width.

    The two agree when responses go unscored at random; the pooled mean weighs a prompt by its
    scored responses, so unscored replies that cluster on some prompts (hard ones, long ones)
    pull the two apart. Half the width is the declared rule: a shift that large moves the
    reported interval by half of itself."""
    half = (pooled.high - pooled.low) / 2
    gap = abs(pooled.estimate - prompt_mean)
    if not math.isfinite(half) or not math.isfinite(gap):
        text = "not checked: no interval for the pooled mean"
        return UnscoredCheck(pooled.estimate, prompt_mean, half, False, text)
    flagged = gap > half
    text = (
        f"the pooled mean {pooled.estimate:.3f} and the mean of prompt means {prompt_mean:.3f} "
        f"differ by {gap:.3f}, {'more' if flagged else 'less'} than half the interval width "
        f"({half:.3f})"
    )
    if flagged:
        text = f"unscored responses may not be missing at random: {text}"
    return UnscoredCheck(pooled.estimate, prompt_mean, half, flagged, text)


def unscored_check_of(summary: ScoreSummary) -> UnscoredCheck:
    """``unscored_check`` on a trial's ScoreSummary (pooled interval, t interval's estimate)."""
    return unscored_check(summary.mean, summary.t_interval.estimate)
