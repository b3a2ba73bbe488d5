"""A search's space and bookkeeping without Ray: the simplex draw, the readable values, the
validation of `search:`, and SearchBook's budget, repeats and resume (ablate.search)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ablate.checks import load
from ablate.config.schema import Config
from ablate.errors import ConfigError
from ablate.plan import Trial
from ablate.search.space import (
    dimensions,
    params_fit,
    readable_values,
    rounded_weights,
    sampler_distributions,
    stick_weights,
)
from ablate.search.study import SearchBook, saved_search
from ablate.search_session import planner_for

EXPERIMENT: dict[str, Any] = {
    "model": {"name_or_path": "builtin:tiny"},
    "pools": {
        "a": {"source": "synthetic", "size": 300, "seed": 0},
        "b": {"source": "synthetic", "size": 300, "seed": 1},
        "c": {"source": "synthetic", "size": 300, "seed": 2},
    },
    "judge": {"model": "builtin:tiny"},
    "training": {"learning_rate": 1.0e-3, "final_learning_rate": 1.0e-5},
}
SEARCH: dict[str, Any] = {
    "trials": 4,
    "objective": "heldout_loss",
    "space": {
        "training.learning_rate": {"low": 1.0e-4, "high": 1.0e-2, "log": True},
        "training.epochs": [1, 2],
    },
    "mixture": ["a", "b"],
}


def write(folder: Path, search: dict[str, Any], sweep: dict[str, Any] | None = None) -> Path:
    (folder / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT))
    spec = {"name": "s", "experiment": "exp.yaml", "search": copy.deepcopy(search),
            "sweep": sweep or {"sizes": [16], "seeds": [0]}}  # fmt: skip
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load(write(tmp_path, SEARCH))


def test_stick_breaking_is_uniform_on_the_simplex() -> None:
    """Dirichlet(1, 1, 1): each weight's mean is 1/3 and P(w_1 > 1/2) = (1 - 1/2)^2 = 1/4."""
    rng = np.random.default_rng(0)
    draws = np.array([list(stick_weights(["a", "b", "c"], list(rng.random(2))).values())
                      for _ in range(20_000)])  # fmt: skip
    assert np.allclose(draws.sum(axis=1), 1.0)
    assert np.allclose(draws.mean(axis=0), 1 / 3, atol=0.01)
    for column in range(3):
        assert abs((draws[:, column] > 0.5).mean() - 0.25) < 0.01


def test_rounded_weights_sum_to_one_in_hundredths() -> None:
    weights = rounded_weights({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert sum(weights.values()) == pytest.approx(1.0)
    assert sorted(weights.values()) == [0.33, 0.33, 0.34]
    assert rounded_weights({"a": 0.004, "b": 0.996}) == {"a": 0.0, "b": 1.0}


def test_readable_values_round_settings_and_give_every_weight(config: Config) -> None:
    assert [d.name for d in dimensions(config)] == [
        "training.learning_rate", "training.epochs", "mixture.a", "mixture.b"
    ]  # fmt: skip
    assert set(sampler_distributions(config)) == {"training.learning_rate", "training.epochs",
                                                  "mixture.a"}  # fmt: skip
    values = readable_values(config, {"training.learning_rate": 0.00123456,
                                      "training.epochs": 2, "mixture.a": 0.2468})  # fmt: skip
    assert values == {"training.learning_rate": 0.00123, "training.epochs": 2,
                      "mixture.a": 0.25, "mixture.b": 0.75}  # fmt: skip


def test_rounding_keeps_a_draw_inside_its_range(tmp_path: Path) -> None:
    space = {"training.learning_rate": {"low": 1.2345e-4, "high": 9.9951e-3, "log": True}}
    config = load(write(tmp_path, SEARCH | {"space": space}))
    low = readable_values(config, {"training.learning_rate": 1.2345e-4, "mixture.a": 0.5})
    high = readable_values(config, {"training.learning_rate": 9.9951e-3, "mixture.a": 0.5})
    assert low["training.learning_rate"] == 1.2345e-4  # 1.23e-4 would fall below the range
    assert high["training.learning_rate"] == 9.9951e-3  # 0.01 would lie above it


def test_params_outside_an_edited_space_are_recognised(config: Config) -> None:
    inside = {"training.learning_rate": 1e-3, "training.epochs": 1, "mixture.a": 0.5}
    assert params_fit(config, inside)
    assert not params_fit(config, inside | {"training.learning_rate": 0.5})
    assert not params_fit(config, inside | {"training.epochs": 3})
    assert not params_fit(config, {"training.learning_rate": 1e-3})


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"space": {"training.learning_rate": {"low": 1e-2, "high": 1e-4}}},
         "search.space.training.learning_rate: low (0.01) must be below high"),
        ({"space": {"training.learning_rate": {"low": 0, "high": 1e-2, "log": True}}},
         "search.space.training.learning_rate: a log range needs low > 0"),
        ({"mixture": ["a", "nope"]}, "search.mixture[1]: no pool 'nope'"),
        ({"objective": "judge_meen"}, "Did you mean 'judge_mean'?"),
        ({"space": {"judge.temperature": [0.0, 0.5]}}, "search.space.judge.temperature: a search"),
        ({"space": {"training.epochs": {"low": 1, "high": 2.5}}},
         "search.space.training.epochs: training.epochs is an integer setting"),
        ({"space": {"training.lora.r": {"low": 0, "high": 8}}},
         "search.space.training.lora.r: training.lora.r: must be"),
        ({"sampler": "bayes"}, "search.sampler: 'bayes' is not one of"),
        ({"trials": 0}, "search.trials: the budget must be >= 1"),
        ({"confirm": {"top": 9, "seeds": 2}}, "search.confirm.top: must be in [1, 4]"),
        ({"space": {"training.epochs": {"low": 1, "high": 9, "step": 0}}},
         "search.space.training.epochs: step must be a number > 0, got 0"),
        ({"space": {"training.epochs": {"low": 1, "high": 9, "step": 0.5}}},
         "training.epochs is an integer setting; give an integer step"),
        ({"space": {"training.weight_decay": {"low": 0.0, "high": 0.1, "step": 0.5}}},
         "search.space.training.weight_decay: step (0.5) is wider than the range (0.1)"),
        ({"objective": "judge_win_rate"},
         "search.objective: judge_win_rate is measured by a pairwise judge only"),
    ],
)  # fmt: skip
def test_bad_searches_name_the_dotted_path(
    tmp_path: Path, change: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, SEARCH | change))
    assert path in str(caught.value)


def test_a_search_takes_one_arm_and_no_grid(tmp_path: Path) -> None:
    sweep = {"sizes": [16], "seeds": [0], "grid": {"training.epochs": [1, 2]},
             "arms": {"x": {"pool": "a"}, "y": {"pool": "b"}}}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, SEARCH, sweep))
    assert "sweep.arms: a search explores the settings of one arm, got 2" in str(caught.value)
    assert "sweep.grid: a search samples its settings" in str(caught.value)


class FakeSampler:
    """Proposes the given parameters in turn and records what it is told."""

    def __init__(self, proposals: list[dict[str, Any]]) -> None:
        self.proposals = list(proposals)
        self.told: list[tuple[str, float | None]] = []
        self.ids = iter(range(1000))

    def ask(self, sampler_id: str) -> dict[str, Any] | None:
        return self.proposals.pop(0) if self.proposals else None

    def tell(self, sampler_id: str, value: float | None) -> None:
        self.told.append((sampler_id, value))

    def new_id(self) -> str:
        return f"p{next(self.ids)}"


P1 = {"training.learning_rate": 1e-3, "training.epochs": 1, "mixture.a": 0.5}
P2 = {"training.learning_rate": 2e-3, "training.epochs": 2, "mixture.a": 0.25}
P3 = {"training.learning_rate": 3e-3, "training.epochs": 1, "mixture.a": 0.75}


def book_for(
    config: Config,
    budget: int,
    finished: dict[str, float | None] | None = None,
    unfinished: list[list[Trial]] | None = None,
) -> tuple[SearchBook, list[list[Trial]]]:
    written: list[list[Trial]] = []
    book = SearchBook(planner_for(config), budget, dict(finished or {}), list(unfinished or []),
                      written.append)  # fmt: skip
    return book, written


def test_each_configuration_runs_once_per_seed_and_is_told_its_mean(tmp_path: Path) -> None:
    config = load(write(tmp_path, SEARCH, {"sizes": [16], "seeds": [0, 1]}))
    book, written = book_for(config, budget=1)
    sampler = FakeSampler([P1])
    first = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    second = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    assert isinstance(first, Trial) and isinstance(second, Trial)
    assert (first.arm, first.seed, second.arm, second.seed) == (first.arm, 0, first.arm, 1)
    assert len(written) == 1 and [t.folder for t in written[0]] == [first.folder, second.folder]
    assert book.next_trial(sampler.ask, sampler.tell, sampler.new_id) == "finished"
    book.trial_done(first, 2.0, sampler.tell, lambda p, v: None)
    assert sampler.told == []  # not before every seed is done
    book.trial_done(second, 4.0, sampler.tell, lambda p, v: None)
    assert sampler.told == [("p0", 3.0)]


def test_a_proposal_equal_to_a_finished_configuration_is_told_not_run(config: Config) -> None:
    label = planner_for(config).trials(P1)[0].arm
    book, written = book_for(config, budget=2, finished={label: 1.5})
    sampler = FakeSampler([P1, P1, P2])
    trial = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    assert sampler.told == [("p0", 1.5), ("p1", 1.5)]  # answered from the ledger
    assert isinstance(trial, Trial) and trial.arm == planner_for(config).trials(P2)[0].arm
    assert len(written) == 1  # only P2 was written and run


def test_a_proposal_equal_to_a_running_one_waits_for_its_result(config: Config) -> None:
    book, _ = book_for(config, budget=3)
    sampler = FakeSampler([P1, P1, P2])
    first = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    second = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    assert isinstance(first, Trial) and isinstance(second, Trial) and first.arm != second.arm
    book.trial_done(first, 0.5, sampler.tell, lambda p, v: None)
    assert sampler.told == [("p0", 0.5), ("p1", 0.5)]


def test_a_resumed_book_runs_unfinished_first_and_keeps_the_budget(config: Config) -> None:
    planner = planner_for(config)
    done, interrupted = planner.trials(P1), planner.trials(P2)
    book, _ = book_for(config, budget=3, finished={done[0].arm: 1.0}, unfinished=[interrupted])
    sampler = FakeSampler([P3, P1])
    told_new: list[tuple[dict[str, Any], float | None]] = []
    first = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    assert isinstance(first, Trial) and first.folder == interrupted[0].folder
    third = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    assert isinstance(third, Trial) and third.arm == planner.trials(P3)[0].arm
    assert book.next_trial(sampler.ask, sampler.tell, sampler.new_id) == "finished"  # 3 of 3
    book.trial_done(first, None, sampler.tell, lambda p, v: told_new.append((p, v)))
    assert told_new == [(P2, None)]  # never asked in this command: told as a new point


def test_a_resumed_configuration_runs_only_its_seeds_not_done(tmp_path: Path) -> None:
    config = load(write(tmp_path, SEARCH, {"sizes": [16], "seeds": [0, 1]}))
    trials = planner_for(config).trials(P1)
    book = SearchBook(planner_for(config), 1, {}, [trials], lambda ts: None,
                      done={trials[0].folder: 2.0})  # fmt: skip
    sampler = FakeSampler([])
    told: list[tuple[dict[str, Any], float | None]] = []
    only = book.next_trial(sampler.ask, sampler.tell, sampler.new_id)
    assert isinstance(only, Trial) and only.seed == 1  # seed 0 is done: not run again
    assert book.next_trial(sampler.ask, sampler.tell, sampler.new_id) == "finished"
    book.trial_done(only, 4.0, sampler.tell, lambda p, v: told.append((p, v)))
    assert told == [(P1, 3.0)]  # the mean over both seeds


def test_an_exhausted_space_ends_the_search(config: Config) -> None:
    label = planner_for(config).trials(P1)[0].arm
    book, written = book_for(config, budget=5, finished={label: 1.0})
    sampler = FakeSampler([P1] * 100)
    assert book.next_trial(sampler.ask, sampler.tell, sampler.new_id) == "finished"
    assert book.exhausted and not written and len(sampler.told) == 50


def test_saved_trials_are_rederived_and_foreign_ones_dropped(tmp_path: Path) -> None:
    config = load(write(tmp_path, SEARCH))
    planner = planner_for(config)
    saved = planner.trials(P1) + planner.trials(P2 | {"training.epochs": 3})
    found = saved_search(saved, planner)
    assert [ts[0].folder for ts in found.proposals] == [saved[0].folder]
    assert len(found.dropped) == 1 and "outside the current search space" in found.dropped[0]
