"""A search's trials and its bookkeeping (pure: no Ray, no Optuna, no I/O).

Each configuration the sampler proposes becomes one ordinary ledger trial per seed of
`sweep.seeds`, keyed like any trial by its resolved config (ablate.plan), so a proposal that
lands on a finished configuration costs nothing. The ledger is the study's memory: every
proposal is written as trial files before it runs (with the sampler's own parameters), and a
resumed search re-derives its trials from them under the current config, tells the sampler
the finished ones and finishes the interrupted ones first. `SearchBook` does that bookkeeping
between the sampler (ask / tell) and Ray Tune; ablate.runner wraps it in a Tune searcher.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ablate.config.arms import apply_overrides, search_base
from ablate.config.schema import Config
from ablate.files import stable_hash
from ablate.plan import Trial, Versions, data_fingerprint, judge_name, stage_keys
from ablate.search.space import configuration, direction, params_fit, readable_values

SEARCH, CONFIRM = "search", "confirm"
# Proposals in a row that all land on configurations already run or running: past this the
# space is taken as exhausted (a small categorical space) and the search ends early.
MAX_REPEATS = 50


def pool_label(weights: Mapping[str, float]) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    return "+".join(f"{pool}:{weight:g}" for pool, weight in weights.items())


@dataclass(frozen=True)
class SearchPlanner:
    """Proposals -> trials under one config (the fingerprints are the sweep checks')."""

    config: Config
    pool_fingerprints: dict[str, str]
    eval_fingerprint: str
    versions: Versions
    judge_fingerprint: str = ""

    def trials(
        self, params: dict[str, Any], role: str = SEARCH, seeds: list[int] | None = None
    ) -> list[Trial]:
        config = self.config
        values = readable_values(config, params)
        chosen = configuration(config, values)
        base = search_base(config)
        overrides = base.overrides | chosen.overrides
        weights = chosen.weights or base.data
        resolved = apply_overrides(config, overrides)
        code = self.versions(resolved)
        data = data_fingerprint(weights, self.pool_fingerprints)
        what = [overrides, sorted(weights.items()), chosen.n_examples]
        label = f"{base.name}-{stable_hash(what)[:6]}"  # the same configuration, the same trials
        search = {"role": role, "params": dict(params), "values": values}
        trials = []
        for seed in seeds if seeds is not None else config.sweep.seeds:
            keys = stage_keys(resolved, data, self.eval_fingerprint, chosen.n_examples, seed,
                              code, self.judge_fingerprint)  # fmt: skip
            mixture = dict(weights) if len(weights) > 1 else None
            trial = Trial(label, pool_label(weights), chosen.n_examples, seed, keys,
                          judge_name(resolved, code), mixture, overrides, "", search)  # fmt: skip
            trials.append(trial)
        return trials


def role(trial: Trial) -> str | None:
    return str(trial.search.get("role")) if trial.search else None


def configurations(trials: list[Trial], wanted: str = SEARCH) -> dict[str, list[Trial]]:
    """Trials of one role grouped by configuration (label), in the order they were proposed."""
    grouped: dict[str, list[Trial]] = {}
    for trial in trials:
        if role(trial) == wanted:
            grouped.setdefault(trial.arm, []).append(trial)
    return grouped


@dataclass
class SavedSearch:
    """What the ledger holds of a search, re-derived under the current config."""

    proposals: list[list[Trial]]  # one list (its seeds) per configuration, in proposal order
    confirm: list[Trial]
    dropped: list[str]  # notes: proposals outside the current space


def saved_search(saved: list[Trial], planner: SearchPlanner) -> SavedSearch:
    proposals, dropped = [], []
    for label, trials in configurations(saved, SEARCH).items():
        params = dict((trials[0].search or {}).get("params") or {})
        if not params_fit(planner.config, params):
            dropped.append(f"configuration {label} lies outside the current search space")
            continue
        proposals.append(planner.trials(params))
    confirm: list[Trial] = []
    searched = {t.folder for ts in proposals for t in ts}
    for label, trials in configurations(saved, CONFIRM).items():
        params = dict((trials[0].search or {})["params"])
        if not params_fit(planner.config, params):
            dropped.append(f"the confirmation of {label} lies outside the current search space")
            continue
        seeds = sorted({x.seed for x in trials})
        # A seed the search itself now runs (sweep.seeds grew) is that trial, not a second one.
        confirm += [t for t in planner.trials(params, CONFIRM, seeds) if t.folder not in searched]
    return SavedSearch(proposals, confirm, dropped)


def objective_of(metrics: Mapping[str, Any] | None, objective: str) -> float | None:
    value = (metrics or {}).get(objective)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def mean_objective(values: list[float | None]) -> float | None:
    """A configuration's objective: the mean over its seeds; None when any seed has none."""
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None) / len(values)


def confirm_seeds(config: Config) -> list[int]:
    """Fresh seeds for the confirmation: after the largest seed the search used."""
    search = config.search
    assert search is not None and search.confirm is not None
    start = max(config.sweep.seeds) + 1
    return list(range(start, start + search.confirm.seeds))


def best_first(config: Config, scored: dict[str, float]) -> list[str]:
    """Configuration labels, best objective first (ties: the earlier label order)."""
    sign = -1.0 if direction(config) == "maximize" else 1.0
    return sorted(scored, key=lambda label: sign * scored[label])


Ask = Callable[[str], dict[str, Any] | None]  # sampler trial id -> parameters (None: not now)
Tell = Callable[[str, float | None], None]  # sampler trial id, objective (None: failed)
TellNew = Callable[[dict[str, Any], float | None], None]  # parameters never asked, objective


@dataclass
class _Running:
    trials: list[Trial]
    values: dict[str, float | None] = field(default_factory=dict)  # folder -> objective
    asked: list[str] = field(default_factory=list)  # sampler ids waiting for its objective


@dataclass
class SearchBook:
    """Between the sampler and Tune: one Tune trial per (configuration, seed); the sampler
    hears a configuration's mean objective once all its seeds are done.

    `finished`: label -> objective of configurations done before this command (already told);
    `unfinished`: configurations proposed before whose trials are not all done: their seeds not
    done run first (`done`: folder -> objective of their seeds already done), then they are
    told as new points. The budget counts distinct configurations, earlier ones included."""

    planner: SearchPlanner
    budget: int
    finished: dict[str, float | None]
    unfinished: list[list[Trial]]
    on_new: Callable[[list[Trial]], None]  # write a new configuration's trials to the ledger
    done: dict[str, float | None] = field(default_factory=dict)
    proposed: int = 0
    repeats: int = 0
    exhausted: bool = False
    queue: list[Trial] = field(default_factory=list)
    running: dict[str, _Running] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.proposed = len(self.finished) + len(self.unfinished)
        for trials in self.unfinished:
            values = {t.folder: self.done[t.folder] for t in trials if t.folder in self.done}
            self.running[trials[0].arm] = _Running(trials, values)
            self.queue += [t for t in trials if t.folder not in values]

    def next_trial(self, ask: Ask, tell: Tell, new_id: Callable[[], str]) -> Trial | str | None:
        """The next trial to run; "finished" when the budget is spent; None: not now."""
        if self.queue:
            return self.queue.pop(0)
        while self.proposed < self.budget and not self.exhausted:
            asked = new_id()
            params = ask(asked)
            if params is None:
                return None
            trials = self.planner.trials(params)
            label = trials[0].arm
            if label in self.finished:
                tell(asked, self.finished[label])  # the same configuration: its result again
            elif label in self.running:
                self.running[label].asked.append(asked)  # told when it completes
            else:
                self.repeats = 0
                self.proposed += 1
                self.running[label] = _Running(trials, asked=[asked])
                self.on_new(trials)
                self.queue += trials[1:]
                return trials[0]
            self.repeats += 1
            self.exhausted = self.repeats >= MAX_REPEATS
        return "finished"

    def trial_done(self, trial: Trial, value: float | None, tell: Tell, tell_new: TellNew) -> None:
        """A Tune trial ended (value None: failed or no objective)."""
        run = self.running.get(trial.arm)
        if run is None:
            return
        run.values[trial.folder] = value
        if len(run.values) < len(run.trials):
            return
        objective = mean_objective([run.values[t.folder] for t in run.trials])
        del self.running[trial.arm]
        self.finished[trial.arm] = objective
        if not run.asked:  # proposed by an earlier command: the sampler never asked for it
            tell_new(dict((run.trials[0].search or {})["params"]), objective)
        for asked in run.asked:
            tell(asked, objective)
