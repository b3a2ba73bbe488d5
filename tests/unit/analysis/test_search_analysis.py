"""A search's answer: configurations ranked with intervals, fANOVA importances with bootstrap
intervals, the mixture fit recovering a planted optimum, and the confirmation's verdicts.

Simulated judge scores and objectives only (no training): seeded, so every run is the same."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from ablate.analysis.search import (
    SearchTrial,
    analyze_search,
    search_trial,
    seed_interval,
)
from ablate.analysis.search_fits import mixture_fit, simplex_grid
from ablate.analysis.search_importance import param_importances
from ablate.analysis.sweep import TrialData
from ablate.search.space import Dimension

PROMPTS = [f"p{i}" for i in range(40)]
LR = Dimension("training.learning_rate", "float", 1e-6, 1e-4, log=True)
EPOCHS = Dimension("training.epochs", "int", 1.0, 5.0)
STYLE = Dimension("generation.style", "choice", choices=("plain", "fancy"))
POOLS = [Dimension(f"mixture.{p}", "weight", 0.0, 1.0) for p in ("a", "b")]


def _trial(arm: str, seed: int, mean: float, rng: random.Random, prompt: dict[str, float],
           role: str = "search", values: dict | None = None) -> SearchTrial:  # fmt: skip
    """Scores = mean + prompt effect + seed effect + noise, 2 responses per prompt."""
    shift = rng.gauss(0, 0.05)
    scores = {p: [mean + prompt[p] + shift + rng.gauss(0, 0.5) for _ in range(2)] for p in PROMPTS}
    judge_mean = sum(s for v in scores.values() for s in v) / (2 * len(PROMPTS))
    data = TrialData(arm, 100, seed, scores, metrics={"judge_mean": judge_mean})
    return SearchTrial(data, role, values or {"training.epochs": len(arm)})


def _search(means: dict[str, float], seeds: list[int], role: str = "search",
            rng_seed: int = 3) -> list[SearchTrial]:  # fmt: skip
    rng = random.Random(rng_seed)
    prompt = {p: rng.gauss(0, 0.4) for p in PROMPTS}
    return [_trial(arm, s, m, rng, prompt, role) for arm, m in means.items() for s in seeds]


def test_configurations_are_ranked_with_seed_aware_intervals() -> None:
    means = {"c1": 3.0, "c2": 3.8, "c3": 2.5, "c4": 3.4}
    answer = analyze_search(_search(means, [0, 1, 2]), [EPOCHS], "judge_mean", "maximize")
    assert [r.arm for r in answer.configurations] == ["c2", "c4", "c1", "c3"]
    assert [r.rank for r in answer.configurations] == [1, 2, 3, 4]
    assert [r.order for r in answer.configurations] == [2, 4, 1, 3]  # proposal order kept
    for r in answer.configurations:
        assert r.seeds == (0, 1, 2)
        assert r.objective.low < r.objective.value < r.objective.high
        assert "seeds" in r.objective.method  # training randomness included
        assert r.objective.low < means[r.arm] < r.objective.high  # the planted truth
    assert answer.best is not None and answer.best.arm == "c2"
    assert any("winner's curse" in n and "search.confirm" in n for n in answer.notes)


def test_minimize_ranks_lowest_first_and_other_metrics_use_what_they_have() -> None:
    rng = random.Random(0)
    trials = []
    for arm, loss in {"x": 2.0, "y": 1.5, "z": 1.8}.items():
        for seed in (0, 1):
            metrics = {"train_loss": loss + rng.gauss(0, 0.02)}
            trials.append(SearchTrial(TrialData(arm, 100, seed, {}, metrics=metrics), "search",
                                      {"training.epochs": 2}))  # fmt: skip
    single = {"train_loss": 1.0, "train_loss_ci_low": 0.9, "train_loss_ci_high": 1.1}
    trials.append(SearchTrial(TrialData("w", 100, 0, {}, metrics=single), "search", {}))
    trials.append(SearchTrial(TrialData("v", 100, 0, {}, metrics={"train_loss": 3.0}), "search",
                              {}))  # fmt: skip
    answer = analyze_search(trials, [EPOCHS], "train_loss", "minimize")
    by_arm = {r.arm: r for r in answer.configurations}
    assert [r.arm for r in answer.configurations] == ["w", "y", "z", "x", "v"]
    assert (by_arm["w"].objective.low, by_arm["w"].objective.high) == (0.9, 1.1)
    assert "t over 2 seeds" in by_arm["y"].objective.method
    assert by_arm["y"].objective.low < 1.5 < by_arm["y"].objective.high
    assert not by_arm["v"].objective.has_interval
    assert "no interval kept" in by_arm["v"].objective.method


def test_heldout_loss_gets_prompt_and_seed_intervals() -> None:
    rng = random.Random(1)
    trials = []
    for arm, level in {"a": 2.0, "b": 2.4}.items():
        for seed in (0, 1, 2):
            held = {p: (10 * (level + rng.gauss(0, 0.3)), 10) for p in PROMPTS}
            loss = sum(s for s, _ in held.values()) / sum(t for _, t in held.values())
            data = TrialData(arm, 100, seed, {}, loss, held, {"heldout_loss": loss})
            trials.append(SearchTrial(data, "search", {}))
    answer = analyze_search(trials, [], "heldout_loss", "minimize")
    assert [r.arm for r in answer.configurations] == ["a", "b"]
    best = answer.configurations[0].objective
    assert best.low < 2.0 < best.high and "seeds" in best.method
    assert answer.importances == () and "no importances" in answer.importance_note


def test_one_seed_says_training_randomness_is_not_measured() -> None:
    answer = analyze_search(_search({"c1": 3.0, "c2": 3.5}, [0]), [EPOCHS], "judge_mean",
                            "maximize")  # fmt: skip
    assert any("1 seed per configuration" in n for n in answer.notes)
    assert "training randomness not measured" in answer.configurations[0].objective.method


def test_search_trial_reads_the_trial_search_record() -> None:
    data = TrialData("base-1a2b3c", 100, 0, {})
    record = {"role": "confirm", "params": {"x": 0.3}, "values": {"training.epochs": 3}}
    got = search_trial(data, record)
    assert got is not None and got.role == "confirm" and got.values == {"training.epochs": 3}
    assert search_trial(data, None) is None


def test_seed_interval_is_a_t_interval() -> None:
    e = seed_interval([1.0, 2.0, 3.0], 0.95)
    assert e.value == 2.0 and e.high - e.value == pytest.approx(4.302653 / math.sqrt(3), 1e-5)
    assert not seed_interval([1.0], 0.95).has_interval


# --- Importances ---------------------------------------------------------------------------------


def _importance_points(n: int, seed: int = 3) -> list[tuple[dict, float]]:
    """The objective depends on the learning rate (log scale, peak at 1e-5) and nothing else.
    (With 16 random draws the other settings can line up with it by chance; seed 3's do not.)"""
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(n):
        values = {
            LR.name: float(10 ** rng.uniform(-6, -4)),
            EPOCHS.name: int(rng.integers(1, 6)),
            STYLE.name: str(rng.choice(["plain", "fancy"])),
        }
        y = 4 - (math.log10(values[LR.name]) + 5) ** 2 + float(rng.normal(0, 0.05))
        points.append((values, y))
    return points


def test_importances_put_the_planted_setting_first_with_intervals() -> None:
    found, note = param_importances(_importance_points(16), [LR, EPOCHS, STYLE], "maximize")
    assert found[0].name == LR.name
    assert sum(i.share.value for i in found) == pytest.approx(1.0)
    lr = found[0].share
    assert lr.has_interval and lr.low <= lr.value <= lr.high and lr.value > 0.6
    assert all(i.share.has_interval and 0 <= i.share.low <= i.share.high <= 1 for i in found)
    assert found[1].share.value < 0.3
    assert "fANOVA" in note and "16 configurations" in note
    again, _ = param_importances(_importance_points(16), [LR, EPOCHS, STYLE], "maximize")
    assert again == found  # seeded: the same report every time


def test_importances_need_enough_configurations_and_varied_settings() -> None:
    found, why = param_importances(_importance_points(3), [LR, EPOCHS, STYLE], "maximize")
    assert found == [] and "3 configurations" in why and "at least 4" in why
    fixed = [({**v, EPOCHS.name: 2, STYLE.name: "plain"}, y) for v, y in _importance_points(8)]
    found, why = param_importances(fixed, [LR, EPOCHS, STYLE], "maximize")
    assert found == [] and "fewer than 2" in why


def test_importances_clip_rounded_values_and_drop_values_outside_the_space() -> None:
    points = _importance_points(10)
    points[0][0][LR.name] = 1.0004e-4  # rounded past the bound: clipped, kept
    points[1][0][STYLE.name] = "gone"  # a choice no longer in the space: left out
    found, note = param_importances(points, [LR, EPOCHS, STYLE], "maximize")
    assert found and "9 configurations" in note


# --- Mixture fit ---------------------------------------------------------------------------------


def _mixture_points(n: int, seed: int, noise: float = 0.03) -> list[tuple[dict, float]]:
    """A planted optimum: objective = 3 - 4 (w_a - 0.7)^2 + noise, an epochs effect beside."""
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(n):
        a = round(float(rng.uniform()), 2)
        epochs = int(rng.integers(1, 6))
        y = 3 - 4 * (a - 0.7) ** 2 + 0.05 * epochs + float(rng.normal(0, noise))
        points.append(({"mixture.a": a, "mixture.b": round(1 - a, 2), EPOCHS.name: epochs}, y))
    return points


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixture_fit_recovers_a_planted_optimum(seed: int) -> None:
    fit, note = mixture_fit(_mixture_points(16, seed), [*POOLS, EPOCHS], "maximize")
    assert fit is not None and fit.model == "Scheffé quadratic"
    assert fit.pools == ("a", "b") and fit.covariates == ("training.epochs",)
    a = fit.best["a"]
    assert abs(a.value - 0.7) <= 0.05 and a.low <= 0.7 <= a.high
    assert fit.best["a"].value + fit.best["b"].value == pytest.approx(1.0)
    # at the mean epochs (3 on average): 3 + 0.05 * mean epochs
    assert fit.predicted.low < fit.predicted.value < fit.predicted.high
    assert abs(fit.predicted.value - 3.15) < 0.1
    assert fit.r2 > 0.8 and "16 configurations" in note and "optimistic" in note
    assert len(fit.curve) == 101 and fit.curve[0][0] == 1.0 - 1.0  # from w_a = 0 to 1
    assert all(low <= y <= high for _, y, low, high in fit.curve)


def test_mixture_fit_of_three_pools_and_a_minimum() -> None:
    rng = np.random.default_rng(5)
    target = np.array([0.5, 0.3, 0.2])
    points = []
    for w in rng.dirichlet(np.ones(3), 20):
        w = np.round(w, 2)
        y = 1.0 + 5 * float(((w - target) ** 2).sum()) + float(rng.normal(0, 0.01))
        points.append(({f"mixture.{p}": float(x) for p, x in zip("abc", w, strict=True)}, y))
    dims = [Dimension(f"mixture.{p}", "weight", 0.0, 1.0) for p in "abc"]
    fit, _ = mixture_fit(points, dims, "minimize")
    assert fit is not None and fit.model == "Scheffé quadratic" and fit.curve == ()
    for pool, want in zip("abc", target, strict=True):
        assert abs(fit.best[pool].value - want) <= 0.06


def test_mixture_fit_falls_back_to_linear_then_to_a_reason() -> None:
    fit, _ = mixture_fit(_mixture_points(4, 0), POOLS, "maximize")
    assert fit is not None and fit.model == "Scheffé linear"
    assert fit.best["a"].value in (0.0, 1.0)  # a line peaks at a corner
    fit, why = mixture_fit(_mixture_points(3, 0), POOLS, "maximize")
    assert fit is None and "at least 4" in why
    assert mixture_fit(_mixture_points(8, 0), [EPOCHS], "maximize") == (None, "")


def test_simplex_grid_sums_to_one() -> None:
    for k in (2, 3, 5):
        grid = simplex_grid(k)
        assert np.allclose(grid.sum(axis=1), 1.0) and (grid >= 0).all()
    assert len(simplex_grid(3)) == 101 * 102 // 2


# --- Confirmation --------------------------------------------------------------------------------


def _with_confirm(search: dict[str, float], confirm: dict[str, float]) -> list[SearchTrial]:
    return _search(search, [0, 1]) + _search(confirm, [2, 3, 4], "confirm", rng_seed=9)


def test_confirmation_compares_the_search_best_on_fresh_seeds() -> None:
    trials = _with_confirm({"c1": 3.0, "c2": 3.6, "c3": 3.3}, {"c2": 3.6, "c3": 3.0})
    answer = analyze_search(trials, [EPOCHS], "judge_mean", "maximize")
    assert [(r.arm, r.rank, r.seeds) for r in answer.confirmed] == [
        ("c2", 1, (2, 3, 4)), ("c3", 2, (2, 3, 4)),
    ]  # fmt: skip
    (c,) = answer.comparisons
    assert (c.best, c.other, c.verdict) == ("c2", "c3", "c2 beats c3")
    assert c.difference.low > 0 and c.difference.low < 0.6 < c.difference.high
    assert c.p_adjusted is None and "seeds" in c.difference.method
    assert any("confirmation below" in n for n in answer.notes)


def test_confirmation_can_overturn_the_search_and_uses_holm_with_several() -> None:
    trials = _with_confirm({"c1": 3.0, "c2": 3.6, "c3": 3.3, "c4": 3.2},
                           {"c2": 3.0, "c3": 3.6, "c4": 3.0})  # fmt: skip
    answer = analyze_search(trials, [EPOCHS], "judge_mean", "maximize")
    verdicts = {c.other: c.verdict for c in answer.comparisons}
    assert verdicts == {"c3": "c3 beats c2", "c4": "no detectable difference"}
    assert all(c.p_adjusted is not None and c.p_adjusted >= c.p_value
               for c in answer.comparisons)  # fmt: skip


def test_confirmation_of_other_metrics_uses_seeds() -> None:
    rng = random.Random(2)
    trials = []
    for role, seeds, means in (("search", [0], {"a": 1.0, "b": 1.2}),
                               ("confirm", [1, 2, 3], {"a": 1.0, "b": 1.5})):  # fmt: skip
        for arm, m in means.items():
            for s in seeds:
                metrics = {"train_loss": m + rng.gauss(0, 0.02)}
                trials.append(SearchTrial(TrialData(arm, 100, s, {}, metrics=metrics), role, {}))
    answer = analyze_search(trials, [], "train_loss", "minimize")
    (c,) = answer.comparisons
    assert (c.best, c.other) == ("a", "b") and c.verdict == "a beats b"
    assert "Welch" in c.difference.method and c.difference.high < 0
    assert all("t over 3 seeds" in r.objective.method for r in answer.confirmed)


def test_nothing_done_yet() -> None:
    answer = analyze_search([], [EPOCHS], "judge_mean", "maximize")
    assert answer.best is None and answer.configurations == () and answer.comparisons == ()
    assert answer.notes == ("no configuration of the search is done yet",)
