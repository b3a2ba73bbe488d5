"""A search in Ray Tune: Tune's Optuna searcher proposes, `SearchBook` (ablate.search.study)
turns each proposal into one Tune trial per seed, and Tune runs them with the sweep's
resources and a concurrency limit.

The Optuna study lives in <sweep>/search/study.db (optuna-dashboard opens it) and is rebuilt
from the ledger at the start of every command: the finished configurations are told to the
sampler first. A killed driver's study could hold proposals still marked running or miss
results an orphaned worker finished after the kill; the ledger holds exactly what is done.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.search import Searcher

from ablate import layout
from ablate.config.schema import Config
from ablate.plan import Trial, resolved_config
from ablate.runner import EventHandler, WorkerSpec, concurrency, fit
from ablate.search.space import direction, sampler_distributions
from ablate.search.study import SearchBook, objective_of

METRIC = "objective"  # the name the Optuna searcher reads its value under


def _sampler(name: str, seed: int, budget: int, concurrent: bool) -> Any:
    import optuna

    # Optuna's model-based samplers draw their first 10 points at random; a fine-tuning search
    # is often 8-30 trials, so a third of the budget (at least 2) is random, the rest modelled.
    startup = max(2, min(10, budget // 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=startup)
        # constant_liar: running proposals count as bad results, so parallel ones spread out.
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=startup, constant_liar=concurrent
        )


def _fresh_storage(path: Path, study_name: str) -> Any:
    import optuna

    path.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    with contextlib.suppress(KeyError):  # KeyError: a new study
        optuna.delete_study(study_name=study_name, storage=storage)
    return storage


def optuna_searcher(
    config: Config, study_path: Path, told: list[tuple[dict[str, Any], float | None]],
    concurrent: bool,
) -> Any:  # fmt: skip
    """Ray Tune's OptunaSearch over the config's space, told the finished configurations."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = config.search
    assert search is not None
    # A resumed search draws afresh: with the first command's seed, a random sampler (or TPE's
    # random start) would propose the finished configurations again, one by one.
    seed = search.seed if not told else (search.seed * 1_000_003 + len(told)) % 2**32
    searcher = OptunaSearch(
        space=sampler_distributions(config),
        metric=METRIC,
        mode="max" if direction(config) == "maximize" else "min",
        sampler=_sampler(search.sampler, seed, search.trials, concurrent),
        study_name=config.name,
        storage=_fresh_storage(study_path, config.name),
    )
    for params, value in told:
        searcher.add_evaluated_point(params, value if value is not None else math.nan,
                                     error=value is None)  # fmt: skip
    return searcher


class LedgerSearcher(Searcher):
    """Tune's searcher interface over a SearchBook and Tune's OptunaSearch (both in the
    driver). Its own state is the ledger: Tune's searcher checkpoints are not written."""

    def __init__(self, book: SearchBook, optuna: Any, objective: str) -> None:
        super().__init__(metric=None, mode=None)  # no metric: Tune checks no result for one
        self.book, self.optuna, self.objective = book, optuna, objective
        self.by_tune_id: dict[str, Trial] = {}
        self._asked = 0

    def set_search_properties(self, metric: Any, mode: Any, config: Any, **spec: Any) -> bool:
        return True

    def _new_id(self) -> str:
        self._asked += 1
        return f"proposal-{self._asked}"

    def _ask(self, sampler_id: str) -> dict[str, Any] | None:
        params = self.optuna.suggest(sampler_id)
        return dict(params) if isinstance(params, dict) else None

    def _tell(self, sampler_id: str, value: float | None) -> None:
        result = {METRIC: value} if value is not None else None
        self.optuna.on_trial_complete(sampler_id, result, error=value is None)

    def _tell_new(self, params: dict[str, Any], value: float | None) -> None:
        self.optuna.add_evaluated_point(params, value if value is not None else math.nan,
                                        error=value is None)  # fmt: skip

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        got = self.book.next_trial(self._ask, self._tell, self._new_id)
        if got == "finished":
            return Searcher.FINISHED  # type: ignore[return-value]  # Tune's marker (a str)
        if not isinstance(got, Trial):
            return None
        self.by_tune_id[trial_id] = got
        return {"trial": got.folder}

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        trial = self.by_tune_id.get(trial_id)
        if trial is not None:
            value = None if error else objective_of(result, self.objective)
            self.book.trial_done(trial, value, self._tell, self._tell_new)

    # Tune pickles its searcher into the experiment's state for a restore we never make; the
    # book and the study (locks, a database connection) live only in this driver.
    def __getstate__(self) -> dict[str, Any]:
        return {"objective": self.objective}

    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None


def run_search(
    config: Config,
    book: SearchBook,
    told: list[tuple[dict[str, Any], float | None]],
    sweep_dir: Path,
    pool_dirs: dict[str, Path],
    cluster: dict[str, float],
    on_event: EventHandler,
) -> None:
    """Run the search to its budget on a started cluster (the book's on_new writes each new
    configuration's trial files before Tune starts them)."""
    search, r = config.search, config.resources
    assert search is not None
    limit = concurrency(cluster, r)
    if search.max_concurrent > 0:
        limit = min(limit, search.max_concurrent)
    optuna = optuna_searcher(config, layout.study_db(sweep_dir), told, limit > 1)
    searcher = LedgerSearcher(book, optuna, search.objective)
    specs = LedgerSpecs(config, sweep_dir, pool_dirs)
    tune_config = tune.TuneConfig(search_alg=searcher, num_samples=-1, max_concurrent_trials=limit)
    fit(config, specs, sweep_dir, "search", on_event, tune_config)


class LedgerSpecs(dict[str, WorkerSpec]):
    """The workers' specs by folder. A search's trials are made while it runs, so each is read
    from the trial file the driver wrote before proposing it (in the worker's process)."""

    def __init__(self, config: Config, root: Path, pool_dirs: dict[str, Path]) -> None:
        super().__init__()
        self.config, self.root = config, str(root.resolve())
        self.pool_dirs = {pool: str(folder) for pool, folder in pool_dirs.items()}

    def __missing__(self, folder: str) -> WorkerSpec:
        from ablate.ledger import read_trial_file

        trial = read_trial_file(Path(self.root), folder)
        if trial is None:
            raise RuntimeError(f"{folder}: its trial file is missing or damaged")
        return WorkerSpec(
            resolved_config(self.config, trial),
            trial,
            str(layout.trial_dir(Path(self.root), folder)),
            {pool: self.pool_dirs[pool] for pool in trial.weights},
        )
