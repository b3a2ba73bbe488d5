"""Which settings of a search mattered (pure): Optuna's fANOVA importances over the
configurations, each with a percentile bootstrap interval over configurations.

Plain arguments: one (readable values, objective) pair per configuration and the search's
dimensions (ablate.search.space.Dimension). Every resample is seeded, so the same
configurations give the same report.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ablate.analysis.search_fits import Estimate, Point, percentile_bounds

if TYPE_CHECKING:
    from ablate.search.space import Dimension

MIN_IMPORTANCE_CONFIGS = 4  # below this a forest has next to nothing to split
IMPORTANCE_TREES = 64  # Optuna's default forest for the point estimate
# Each bootstrap resample is refitted with a small forest: fANOVA costs ~2 ms per tree, and
# 100 x 4 trees keeps the interval under a second. The forest's own noise widens the interval
# a little (a few hundredths in simulation), never narrows it.
RESAMPLE_TREES = 4
IMPORTANCE_RESAMPLES = 100


@dataclass(frozen=True)
class Importance:
    name: str  # a dimension's readable name
    share: Estimate  # share of the objective's variance it explains (fANOVA, sums to 1)


@contextmanager
def _quiet_optuna() -> Iterator[Any]:
    """Optuna logs every in-memory study it makes; silenced here, restored after."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield optuna
    finally:
        optuna.logging.set_verbosity(before)


def _distribution(d: Dimension) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if d.kind == "weight":
        return FloatDistribution(0.0, 1.0)
    if d.kind == "choice":  # labels only: fANOVA one-hot encodes categories whatever they are
        return CategoricalDistribution([str(c) for c in d.choices])
    low, high = float(d.low or 0.0), float(d.high or 0.0)
    if d.kind == "int":  # no step: rounded values need not sit on it, and fANOVA ignores it
        return IntDistribution(int(low), int(high), log=d.log)
    return FloatDistribution(low, high, log=d.log)


def _param(d: Dimension, value: Any) -> Any:
    """The value as the distribution takes it; None when it lies outside (an edited space).
    Readable values are rounded to 3 digits, which can step just past a bound: clipped."""
    if value is None or (isinstance(value, bool) and d.kind != "choice"):
        return None
    if d.kind == "choice":
        return str(value) if str(value) in {str(c) for c in d.choices} else None
    low, high = (0.0, 1.0) if d.kind == "weight" else (float(d.low or 0), float(d.high or 0))
    clipped = min(max(float(value), low), high)
    return round(clipped) if d.kind == "int" else clipped


def _study_rows(points: Sequence[Point], dims: Sequence[Dimension]) -> list[tuple[dict, float]]:
    rows = []
    for values, objective in points:
        params = {d.name: _param(d, values.get(d.name)) for d in dims}
        if all(v is not None for v in params.values()) and math.isfinite(objective):
            rows.append((params, objective))
    return rows


def _fanova(
    trials: Sequence[Any], direction: str, trees: int, seed: int
) -> dict[str, float] | None:
    """Optuna's fANOVA shares of finished ``trials`` (made once by _frozen: resamples share
    them) in an in-memory study; None when the forest found nothing to split."""
    with _quiet_optuna() as optuna:
        from optuna.importance import FanovaImportanceEvaluator, get_param_importances

        study = optuna.create_study(direction=direction)
        study.add_trials(list(trials))
        evaluator = FanovaImportanceEvaluator(n_trees=trees, max_depth=64, seed=seed)
        got = {k: float(v) for k, v in get_param_importances(study, evaluator=evaluator).items()}
    total = sum(got.values())
    return {k: v / total for k, v in got.items()} if math.isfinite(total) and total > 0 else None


def _frozen(rows: Sequence[tuple[dict, float]], dists: dict[str, Any]) -> list[Any]:
    with _quiet_optuna() as optuna:
        return [optuna.trial.create_trial(params=p, distributions=dists, value=v)
                for p, v in rows]  # fmt: skip


def _importance_draws(
    trials: Sequence[Any], names: Sequence[str], direction: str, seed: int
) -> dict[str, list[float]]:
    """Shares over resamples of the configurations; a resample whose objectives are all equal
    (nothing to explain) or whose forest found nothing is skipped."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in names}
    for b in range(IMPORTANCE_RESAMPLES):
        sample = [trials[i] for i in rng.integers(0, len(trials), len(trials))]
        if len({t.value for t in sample}) < 2:
            continue
        got = _fanova(sample, direction, RESAMPLE_TREES, seed + b)
        for name in names if got else ():
            draws[name].append(got.get(name, 0.0) if got else 0.0)
    return draws


def _importance_inputs(
    points: Sequence[Point], dims: Sequence[Dimension]
) -> tuple[list[tuple[dict, float]], dict[str, Any], str]:
    """The study's rows and distributions over the settings that varied, or the reason there
    are no importances. The last pool's weight is 1 minus the others: it would only split a
    share with them, so it is left out."""
    weights = [d for d in dims if d.kind == "weight"]
    dims = [d for d in dims if len(weights) < 2 or d is not weights[-1]]
    rows = _study_rows(points, dims)
    varied = [d for d in dims if len({str(p[d.name]) for p, _ in rows}) > 1]
    if len(rows) < MIN_IMPORTANCE_CONFIGS:
        why = f"{len(rows)} configurations done, at least {MIN_IMPORTANCE_CONFIGS} are needed"
        return [], {}, f"no importances: {why}"
    if len(varied) < 2:
        return [], {}, "no importances: fewer than 2 searched settings took different values"
    dists = {d.name: _distribution(d) for d in varied}
    rows = [({k: p[k] for k in dists}, v) for p, v in rows]
    if len(weights) < 2:
        return rows, dists, ""
    return rows, dists, f"; {weights[-1].name} is left out, being 1 minus the other weights"


def param_importances(
    points: Sequence[Point],
    dims: Sequence[Dimension],
    direction: str,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[list[Importance], str]:
    """fANOVA shares of the settings that varied, largest first, each with a percentile
    bootstrap interval over configurations; and a note (or, without importances, the reason)."""
    rows, dists, extra = _importance_inputs(points, dims)
    if not rows:
        return [], extra
    trials = _frozen(rows, dists)
    point = _fanova(trials, direction, IMPORTANCE_TREES, seed)
    if point is None:
        return [], "no importances: the objective did not vary between configurations"
    draws = _importance_draws(trials, list(dists), direction, seed)
    kept = len(next(iter(draws.values())))
    method = (f"percentile bootstrap over configurations ({kept} resamples, each refitted "
              f"with {RESAMPLE_TREES} trees)")  # fmt: skip
    out = []
    for name, share in sorted(point.items(), key=lambda kv: -kv[1]):
        if kept >= IMPORTANCE_RESAMPLES // 2:
            bounds = percentile_bounds(draws[name], confidence)
            out.append(Importance(name, Estimate(share, *bounds, method)))
        else:
            out.append(Importance(name, Estimate(share, method=f"only {kept} usable resamples")))
    note = (
        f"share of the objective's variance each setting explains (Optuna's fANOVA, a random "
        f"forest of {IMPORTANCE_TREES} trees on {len(rows)} configurations, seed {seed}); with "
        f"few configurations the ranking is fragile: read the intervals{extra}"
    )
    return out, note
