"""Which mixture of pools a search's results point to (pure): a Scheffé mixture model, as
RegMix fits one, with a bootstrap interval over configurations; and the Estimate every search
number is reported as (ablate.analysis.search_importance has which settings mattered).

Both take plain arguments: one (readable values, objective) pair per configuration and the
search's dimensions (ablate.search.space.Dimension). Every resample is seeded, so the same
configurations give the same report.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ablate.stats import FloatArray

if TYPE_CHECKING:
    from ablate.search.space import Dimension

Point = tuple[Mapping[str, Any], float]  # a configuration's readable values and its objective
MIXTURE_RESAMPLES = 200
GRID_STEP = 0.01  # the simplex grid for <= 3 pools
DIRICHLET_POINTS = 20_000  # the seeded sample of the simplex for more pools


@dataclass(frozen=True)
class Estimate:
    """A number a reader sees, with its interval or why it has none (low, high NaN)."""

    value: float
    low: float = math.nan
    high: float = math.nan
    method: str = ""  # how the interval was made, or why there is none

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


@dataclass(frozen=True)
class MixtureFit:
    pools: tuple[str, ...]
    model: str  # "Scheffé quadratic" or "Scheffé linear" (terms, no intercept)
    covariates: tuple[str, ...]  # other searched settings, additive (log10 where log)
    n_configs: int
    r2: float  # in-sample
    best: Mapping[str, Estimate]  # pool -> weight at the predicted best (bootstrap interval)
    predicted: Estimate  # the model's objective there (covariates at their mean)
    # 2 pools: (first pool's weight, prediction, low, high) along the edge, for the figure
    curve: tuple[tuple[float, float, float, float], ...]
    note: str


def percentile_bounds(
    draws: Sequence[float] | FloatArray, confidence: float
) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.asarray(draws, dtype=float), [tail, 100 - tail])
    return float(low), float(high)


# --- Mixture -----------------------------------------------------------------------------------


def simplex_grid(k: int, seed: int = 0) -> FloatArray:
    """Points of the k-pool simplex: every GRID_STEP for k <= 3, else the corners and a
    seeded uniform (Dirichlet(1, ..., 1)) sample."""
    if k <= 3:
        steps = round(1 / GRID_STEP)
        head = [c for c in itertools.product(range(steps + 1), repeat=k - 1) if sum(c) <= steps]
        a = np.array(head, dtype=float).reshape(len(head), k - 1)
        return np.column_stack([a, steps - a.sum(axis=1)]) / steps
    rng = np.random.default_rng(seed)
    return np.vstack([np.eye(k), rng.dirichlet(np.ones(k), DIRICHLET_POINTS)])


def scheffe_terms(w: FloatArray, quadratic: bool) -> FloatArray:
    """Scheffé's mixture terms: each weight (no intercept: the weights sum to 1, so one is
    implied), and with ``quadratic`` each pair's product w_i w_j (blending synergy)."""
    k = w.shape[1]
    pairs = [w[:, i] * w[:, j] for i, j in itertools.combinations(range(k), 2)] if quadratic else []
    return np.column_stack([w, *pairs]) if pairs else w


def _numeric(d: Dimension, value: Any) -> float | None:
    """A searched setting as a covariate: log10 where it is searched on a log scale, and for
    the size (the project's curves are in log n)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if d.log or d.name == "n_examples":
        return math.log10(value) if value > 0 else None
    return float(value)


def _covariates(points: Sequence[Point], dims: Sequence[Dimension]) -> tuple[list[str], FloatArray]:
    """Numeric non-weight settings that varied, centred (so predictions are at their mean)."""
    names, columns = [], []
    for d in dims:
        if d.kind == "weight":
            continue
        column = [_numeric(d, values.get(d.name)) for values, _ in points]
        if any(x is None for x in column) or len(set(column)) < 2:
            continue
        names.append(f"log10 {d.name}" if d.log or d.name == "n_examples" else d.name)
        columns.append([float(x or 0.0) for x in column])
    z = np.array(columns, dtype=float).T.reshape(len(points), len(names))
    return names, z - z.mean(axis=0)


def _structure(n: int, k: int, n_cov: int) -> tuple[bool, bool]:
    """(quadratic, with covariates): each only with at least 2 residual degrees of freedom,
    covariates before pair terms (they explain what is not the mixture)."""
    with_cov = n >= k + n_cov + 2
    pairs = k * (k - 1) // 2
    return n >= k + pairs + (n_cov if with_cov else 0) + 2, with_cov


def _solve(x: FloatArray, y: FloatArray) -> FloatArray | None:
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return None
    return np.asarray(np.linalg.lstsq(x, y, rcond=None)[0], dtype=np.float64)


def _pick(pred: FloatArray, direction: str) -> int:
    return int(np.argmax(pred) if direction == "maximize" else np.argmin(pred))


def _bootstrap_mixture(
    x: FloatArray, y: FloatArray, grid_terms: FloatArray, direction: str, seed: int
) -> tuple[list[int], list[FloatArray]]:
    """Per resample of the configurations (rank-deficient ones skipped): the index of its
    predicted best, and its predictions over the grid."""
    rng = np.random.default_rng(seed)
    best, preds = [], []
    m = grid_terms.shape[1]
    for _ in range(MIXTURE_RESAMPLES):
        idx = rng.integers(0, len(y), len(y))
        beta = _solve(x[idx], y[idx])
        if beta is None:
            continue
        pred = grid_terms @ beta[:m]
        best.append(_pick(pred, direction))
        preds.append(pred)
    return best, preds


def _mixture_rows(points: Sequence[Point], pools: list[str]) -> tuple[list[Point], FloatArray]:
    def usable(v: Mapping[str, Any], y: float) -> bool:
        return math.isfinite(y) and all(isinstance(v.get(p), int | float) for p in pools)

    keep = [(v, y) for v, y in points if usable(v, y)]
    w = np.array([[float(v[p]) for p in pools] for v, _ in keep], dtype=float)
    return keep, w.reshape(len(keep), len(pools))


def mixture_fit(
    points: Sequence[Point],
    dims: Sequence[Dimension],
    direction: str,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[MixtureFit | None, str]:
    """The objective regressed on the pools' weights (RegMix-style), other numeric searched
    settings as additive covariates, and the fit's best mixture; with fewer than 2 weight
    dimensions (None, ""), with too few configurations (None, the reason)."""
    weights = [d for d in dims if d.kind == "weight"]
    pools = [d.name for d in weights]
    if len(pools) < 2:
        return None, ""
    kept, w = _mixture_rows(points, pools)
    n, k = len(kept), len(pools)
    if n < k + 2:
        return None, f"no mixture fit: {n} configurations done, at least {k + 2} are needed"
    x, m, quadratic, used = _design(kept, w, dims)
    y = np.array([v for _, v in kept], dtype=float)
    beta = _solve(x, y)
    if beta is None:
        return None, "no mixture fit: the tried mixtures do not span the pools"
    grid = simplex_grid(k, seed)
    grid_terms = scheffe_terms(grid, quadratic)
    pred = grid_terms @ beta[:m]
    chosen = _pick(pred, direction)
    draws, preds = _bootstrap_mixture(x, y, grid_terms, direction, seed)
    best, predicted, curve = _fit_result(pools, grid, pred, chosen, draws, preds, confidence)
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - x @ beta) ** 2).sum()) / sst if sst > 0 else math.nan
    model = "Scheffé quadratic" if quadratic else "Scheffé linear"
    adjusted = f", adjusted for {', '.join(used)}" if used else ""
    note = (
        f"a model fit on {n} configurations ({model}, in-sample R² {r2:.2f}{adjusted}): the "
        "best mixture is where the fitted surface peaks, between or beyond the mixtures tried, "
        "and its predicted value is optimistic; train it to know"
    )
    pool_names = tuple(p.removeprefix("mixture.") for p in pools)
    return MixtureFit(pool_names, model, used, n, r2, best, predicted, curve, note), note


def _design(
    kept: Sequence[Point], w: FloatArray, dims: Sequence[Dimension]
) -> tuple[FloatArray, int, bool, tuple[str, ...]]:
    """The regression's columns (Scheffé terms, then the covariates used), how many of them are
    mixture terms, whether pairs are in, and the covariates' names."""
    cov_names, z = _covariates(kept, [d for d in dims if d.kind != "weight"])
    quadratic, with_cov = _structure(len(kept), w.shape[1], len(cov_names))
    terms = scheffe_terms(w, quadratic)
    used = tuple(cov_names) if with_cov else ()
    return (np.column_stack([terms, z]) if used else terms), terms.shape[1], quadratic, used


def _fit_result(
    pools: list[str],
    grid: FloatArray,
    pred: FloatArray,
    chosen: int,
    draws: list[int],
    preds: list[FloatArray],
    confidence: float,
) -> tuple[dict[str, Estimate], Estimate, tuple[tuple[float, float, float, float], ...]]:
    """The best mixture's weights (the bootstrap's best points) and prediction (the bootstrap's
    predictions at the chosen point), and for 2 pools the curve along the edge with its band."""
    enough = len(draws) >= MIXTURE_RESAMPLES // 2
    method = f"percentile bootstrap over configurations ({len(draws)} refits)"
    why = f"only {len(draws)} resamples could be refitted"
    best = {}
    for j, pool in enumerate(pools):
        bounds = percentile_bounds(grid[draws, j], confidence) if enough else (math.nan, math.nan)
        best[pool.removeprefix("mixture.")] = Estimate(float(grid[chosen, j]), *bounds,
                                                       method if enough else why)  # fmt: skip
    stacked = np.array(preds) if enough else np.full((1, len(pred)), np.nan)
    at = percentile_bounds(stacked[:, chosen], confidence) if enough else (math.nan, math.nan)
    predicted = Estimate(float(pred[chosen]), *at, method if enough else why)
    curve: tuple[tuple[float, float, float, float], ...] = ()
    if len(pools) == 2:
        tail = (1 - confidence) / 2 * 100
        low, high = np.percentile(stacked, [tail, 100 - tail], axis=0)
        curve = tuple((float(grid[i, 0]), float(pred[i]), float(low[i]), float(high[i]))
                      for i in range(len(pred)))  # fmt: skip
    return best, predicted, curve
