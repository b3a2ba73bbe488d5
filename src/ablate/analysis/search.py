"""A search's answer from its done trials (pure): its configurations ranked by their objective,
with intervals; which settings mattered and the mixture the results point to
(search_importance, search_fits); and the confirmation of the best ones on fresh seeds.

Every configuration is judged on the same prompts as every other, so the judge score and the
held-out loss go through ablate.analysis.contrasts as in a grid sweep: one configuration is one
(arm, size) group, all relabelled to size 0 so that configurations of different searched sizes
compare prompt by prompt, and the seed variances are pooled over all configurations of a role.
The best of N configurations is picked on the very numbers shown, so its value and interval are
optimistic (the winner's curse); only the confirmation, fresh seeds chosen after the pick,
measures it without that bias, and only its comparisons carry a verdict.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ablate.analysis.contrasts import (
    Contrast,
    _t_interval,
    _t_quantile,
    arm_difference,
    cell_group_mean,
    sweep_means,
)
from ablate.analysis.search_fits import Estimate, MixtureFit, mixture_fit
from ablate.analysis.search_importance import Importance, param_importances
from ablate.analysis.sweep import TrialData, _heldout_cells, _judge_cells
from ablate.search.study import CONFIRM, SEARCH, objective_of
from ablate.stats import holm, satterthwaite_df

if TYPE_CHECKING:
    from ablate.analysis.contrasts import SweepMeans
    from ablate.search.space import Dimension

# Objectives with per-prompt values: paired intervals (judge_t_mean is the mean of prompt means,
# exactly what cell_group_mean centres on).
PAIRED = ("judge_mean", "judge_t_mean", "heldout_loss")
# Where a trial keeps an objective's own interval over prompts, when not <objective>_ci_low/high.
OWN_BOUNDS = {"judge_t_mean": ("judge_t_low", "judge_t_high")}


@dataclass(frozen=True)
class SearchTrial:
    """One done trial of a search: what the analysis reads of it, and its Trial.search."""

    data: TrialData
    role: str  # "search" | "confirm"
    values: Mapping[str, Any]  # readable name -> value
    order: int = 0  # its configuration's place in the proposals (1 = first); 0: unknown


def search_trial(data: TrialData, search: Mapping[str, Any] | None) -> SearchTrial | None:
    """None for a trial without a search record (not part of a search)."""
    if not search:
        return None
    order = search.get("order")
    return SearchTrial(data, str(search.get("role", SEARCH)), dict(search.get("values") or {}),
                       int(order) if isinstance(order, int) else 0)  # fmt: skip


@dataclass(frozen=True)
class ConfigResult:
    """One configuration over its done seeds."""

    rank: int  # 1 = best in the search (a confirmed one keeps its search rank; 0: unknown)
    arm: str
    role: str
    n_examples: int
    order: int  # 1 = proposed first
    seeds: tuple[int, ...]
    objective: Estimate  # the mean of its seeds' objectives, with interval or reason
    values: Mapping[str, Any]


@dataclass(frozen=True)
class ConfirmComparison:
    """The search's best confirmed configuration minus another, on the fresh seeds."""

    best: str
    other: str
    difference: Estimate
    p_value: float  # two-sided; NaN without an interval
    p_adjusted: float | None  # Holm over the comparisons, when there are several
    verdict: str  # "<a> beats <b>" or "no detectable difference"


@dataclass(frozen=True)
class SearchAnswer:
    objective: str
    direction: str  # maximize | minimize
    confidence: float
    configurations: tuple[ConfigResult, ...]  # role search, best first
    importances: tuple[Importance, ...]
    importance_note: str  # how they were made, or why there are none
    mixture: MixtureFit | None
    mixture_note: str  # "" when there is no mixture searched
    confirmed: tuple[ConfigResult, ...]  # role confirm, in search rank order
    comparisons: tuple[ConfirmComparison, ...]
    notes: tuple[str, ...]

    @property
    def best(self) -> ConfigResult | None:
        return self.configurations[0] if self.configurations else None


def _groups(trials: Sequence[SearchTrial], role: str) -> dict[str, list[SearchTrial]]:
    """Trials of one role by configuration (arm), in the order first seen (proposal order)."""
    grouped: dict[str, list[SearchTrial]] = {}
    for t in trials:
        if t.role == role:
            grouped.setdefault(t.data.arm, []).append(t)
    return grouped


def _value(t: TrialData, objective: str) -> float | None:
    value = objective_of(t.metrics, objective)
    if value is None and objective == "heldout_loss" and t.heldout_loss is not None:
        return t.heldout_loss if math.isfinite(t.heldout_loss) else None
    return value


def _paired_sweep(groups: Mapping[str, list[SearchTrial]], objective: str) -> SweepMeans | None:
    """Per-prompt cells of every configuration at size 0 (module docstring); None for an
    objective without per-prompt values or held-out losses not kept per prompt."""
    if objective not in PAIRED:
        return None
    data = [dataclasses.replace(t.data, arm=arm, n_examples=0)
            for arm, ts in groups.items() for t in ts]  # fmt: skip
    cells = _judge_cells(data) if objective == "judge_mean" else _heldout_cells(data)
    return sweep_means(cells) if cells else None


def seed_interval(values: Sequence[float], confidence: float) -> Estimate:
    """Mean over seeds with a t interval over them. Every seed is scored on the same prompts,
    so the interval holds training randomness only, not the sampling of the prompts."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, method="1 seed: training randomness is not measured")
    if statistics.stdev(values) == 0:
        return Estimate(mean, method=f"no interval: the {len(values)} seeds gave one value")
    half = _t_quantile(confidence, len(values) - 1) * statistics.stdev(values)
    half /= math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half,
                    f"t over {len(values)} seeds (training randomness; prompts fixed)")  # fmt: skip


def _own_interval(trials: Sequence[SearchTrial], objective: str, mean: float) -> Estimate | None:
    """One seed: the trial's own interval over prompts (<objective>_ci_low/high), if kept."""
    if len(trials) != 1:
        return None
    low_key, high_key = OWN_BOUNDS.get(objective, (f"{objective}_ci_low", f"{objective}_ci_high"))
    low = objective_of(trials[0].data.metrics, low_key)
    high = objective_of(trials[0].data.metrics, high_key)
    if low is None or high is None:
        return None
    why = "the trial's interval over prompts (1 seed: training randomness not measured)"
    return Estimate(mean, low, high, why)


def _estimate(
    trials: Sequence[SearchTrial], objective: str, sweep: SweepMeans | None, confidence: float
) -> Estimate | None:
    """The configuration's objective, None when no seed has one. With per-prompt values: the
    group mean's interval (cell_group_mean), whose centre, the mean of prompt means, can differ
    a little from the objective (judge_mean pools the responses) and is then named."""
    values = [v for t in trials if (v := _value(t.data, objective)) is not None]
    if not values:
        return None
    mean = statistics.fmean(values)
    if sweep is not None:
        try:
            c = cell_group_mean(sweep, trials[0].data.arm, 0, confidence)
        except ValueError as e:
            return Estimate(mean, method=f"no interval: {e}")
        centre = "" if math.isclose(c.estimate, mean, abs_tol=1e-9) else (
            f"; centred on the mean of prompt means {c.estimate:.3f}")  # fmt: skip
        return Estimate(mean, c.low, c.high, c.method + centre)
    own = _own_interval(trials, objective, mean)
    if own is not None:
        return own
    if len(values) < 2:
        return Estimate(mean, method=f"1 seed and no interval kept for {objective}")
    return seed_interval(values, confidence)


def _results(
    groups: Mapping[str, list[SearchTrial]], role: str, objective: str, confidence: float
) -> list[ConfigResult]:
    """Each configuration with an objective, in proposal order, rank 0 (set by the caller)."""
    sweep = _paired_sweep(groups, objective)
    rows = []
    for index, (arm, trials) in enumerate(groups.items(), start=1):
        estimate = _estimate(trials, objective, sweep, confidence)
        order = trials[0].order or index  # the ledger's proposal order when known
        if estimate is not None:
            rows.append(ConfigResult(0, arm, role, trials[0].data.n_examples, order,
                                     tuple(sorted(t.data.seed for t in trials)), estimate,
                                     dict(trials[0].values)))  # fmt: skip
    return rows


def _ranked(rows: list[ConfigResult], direction: str) -> list[ConfigResult]:
    """Best first (ties: the earlier proposal), ranks 1..N."""
    sign = -1.0 if direction == "maximize" else 1.0
    ordered = sorted(rows, key=lambda r: (sign * r.objective.value, r.order))
    return [dataclasses.replace(r, rank=i) for i, r in enumerate(ordered, start=1)]


def _welch(a: Sequence[float], b: Sequence[float], confidence: float) -> tuple[Estimate, float]:
    """Mean of a minus mean of b over their seeds (unpaired: different configurations' seeds
    share nothing), Welch's t interval; with fewer than 2 seeds each, none."""
    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Estimate(diff, method="needs 2 fresh seeds per configuration"), math.nan
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:  # identical seeds on both sides: no spread to test against
        return Estimate(diff, method="no interval: every fresh seed gave the same value"), math.nan
    df = satterthwaite_df([(va, len(a) - 1.0), (vb, len(b) - 1.0)]) if va + vb > 0 else 1.0
    low, high, _, p = _t_interval(diff, va + vb, df, confidence)
    return Estimate(diff, low, high, f"Welch t over seeds ({df:.1f} df; prompts fixed)"), p


def _difference(
    groups: Mapping[str, list[SearchTrial]], best: str, other: str, sweep: SweepMeans | None,
    objective: str, confidence: float,
) -> tuple[Estimate, float]:  # fmt: skip
    if sweep is not None:
        try:
            c: Contrast = arm_difference(sweep, best, other, 0, confidence)
            return Estimate(c.estimate, c.low, c.high, c.method), c.p_value
        except ValueError as e:
            return Estimate(math.nan, method=f"no interval: {e}"), math.nan

    def seeds(arm: str) -> list[float]:
        return [v for t in groups[arm] if (v := _value(t.data, objective)) is not None]

    return _welch(seeds(best), seeds(other), confidence)


def _verdict(c: ConfirmComparison, p: float, direction: str, alpha: float) -> str:
    """The rule declared before the data: a difference only when p (Holm-adjusted when there
    are several comparisons) is below 1 - confidence, so the interval excludes 0."""
    value = c.difference.value
    if not math.isfinite(p) or p >= alpha or value == 0:
        return "no detectable difference"
    best_better = value > 0 if direction == "maximize" else value < 0
    return f"{c.best} beats {c.other}" if best_better else f"{c.other} beats {c.best}"


def _confirmation(
    groups: Mapping[str, list[SearchTrial]], ranks: Mapping[str, int], objective: str,
    direction: str, confidence: float,
) -> tuple[list[ConfigResult], list[ConfirmComparison]]:  # fmt: skip
    """The confirmed configurations in search rank order, and the search's best of them
    against each other: chosen before the fresh seeds, so the pick does not bias them."""
    rows = _results(groups, CONFIRM, objective, confidence)
    rows = sorted((dataclasses.replace(r, rank=ranks.get(r.arm, 0)) for r in rows),
                  key=lambda r: (r.rank or len(ranks) + 1, r.order))  # fmt: skip
    if len(rows) < 2:
        return rows, []
    sweep = _paired_sweep({r.arm: groups[r.arm] for r in rows}, objective)
    made = []
    for other in rows[1:]:
        diff, p = _difference(groups, rows[0].arm, other.arm, sweep, objective, confidence)
        made.append((ConfirmComparison(rows[0].arm, other.arm, diff, p, None, ""), p))
    finite = [p for _, p in made if math.isfinite(p)]
    adjusted = iter(holm(finite)) if len(made) > 1 else iter(())
    alpha = round(1 - confidence, 12)
    out = []
    for c, p in made:
        p_adj = next(adjusted) if len(made) > 1 and math.isfinite(p) else None
        c = dataclasses.replace(c, p_adjusted=p_adj)
        out.append(dataclasses.replace(c, verdict=_verdict(c, p if p_adj is None else p_adj,
                                                           direction, alpha)))  # fmt: skip
    return rows, out


def _notes(ranked: Sequence[ConfigResult], confirmed: Sequence[ConfigResult]) -> list[str]:
    if not ranked:
        return ["no configuration of the search is done yet"]
    then = (
        "the confirmation below re-measures the best with fresh seeds"
        if confirmed
        else "re-measure it with fresh seeds (search.confirm) before trusting its margin"
    )
    notes = [f"the best of {len(ranked)} configurations is picked on these same numbers, so its "
             f"value and interval are optimistic (the winner's curse); {then}"]  # fmt: skip
    if max(len(r.seeds) for r in ranked) < 2:
        notes.append("1 seed per configuration: training randomness is not measured; "
                     "the search's intervals cover prompt sampling only")  # fmt: skip
    return notes


def analyze_search(
    trials: Sequence[SearchTrial],
    dimensions: Sequence[Dimension],
    objective: str,
    direction: str,
    confidence: float = 0.95,
) -> SearchAnswer:
    """The answer of a search from its done trials, given in the ledger's (proposal) order."""
    ranked = _ranked(_results(_groups(trials, SEARCH), SEARCH, objective, confidence), direction)
    points = [(r.values, r.objective.value) for r in ranked]
    importances, importance_note = param_importances(points, dimensions, direction, confidence)
    mixture, mixture_note = mixture_fit(points, dimensions, direction, confidence)
    ranks = {r.arm: r.rank for r in ranked}
    confirmed, comparisons = _confirmation(
        _groups(trials, CONFIRM), ranks, objective, direction, confidence
    )
    return SearchAnswer(objective, direction, confidence, tuple(ranked), tuple(importances),
                        importance_note, mixture, mixture_note, tuple(confirmed),
                        tuple(comparisons), tuple(_notes(ranked, confirmed)))  # fmt: skip
