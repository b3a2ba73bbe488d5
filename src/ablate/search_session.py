"""One command's view of a search in a sweep folder: the trials the ledger holds (re-derived
under the current config), what is left (budget, confirmation), and running it: the search
in Ray Tune to its budget, then the confirmation of the best configurations with fresh seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate import layout
from ablate.config.load import config_to_dict
from ablate.config.schema import Config
from ablate.files import atomic_write_json, read_json_object, stable_hash
from ablate.ledger import read_trials
from ablate.plan import Trial
from ablate.results import TrialState, read_states
from ablate.search.space import probe_params
from ablate.search.study import (
    CONFIRM,
    SavedSearch,
    SearchBook,
    SearchPlanner,
    best_first,
    confirm_seeds,
    mean_objective,
    objective_of,
    saved_search,
)

WriteTrials = Callable[[list[Trial]], None]  # the driver writes trial files and plan.json
EventHandler = Callable[[str, str, dict[str, Any]], None]
Notify = Callable[[str], None]
# Settings that change how much of a search runs, not what it searches: outside its MLflow key,
# so a resumed search with a larger budget stays the same parent run.
NOT_IN_KEY = ("trials", "max_concurrent", "confirm")


def planner_for(config: Config) -> SearchPlanner:
    from ablate.checks import plan_fingerprints
    from ablate.judge.backends import judge_fingerprint
    from ablate.stages import code_versions

    pool_fps, eval_fp = plan_fingerprints(config)
    return SearchPlanner(config, pool_fps, eval_fp, code_versions, judge_fingerprint(config.judge))


@dataclass
class SearchSession:
    config: Config
    sweep_dir: Path
    planner: SearchPlanner
    saved: SavedSearch

    @classmethod
    def open(cls, config: Config, sweep_dir: Path) -> SearchSession:
        planner = planner_for(config)
        return cls(config, sweep_dir, planner, saved_search(read_trials(sweep_dir), planner))

    @property
    def search(self) -> Any:
        assert self.config.search is not None
        return self.config.search

    @property
    def trials(self) -> list[Trial]:
        return [t for ts in self.saved.proposals for t in ts] + self.saved.confirm

    def key(self) -> str:
        """The search's identity (its MLflow parent run): what it searches and how, and the
        keys of one probe configuration, which cover every result-relevant setting; not its
        budget, so a resumed search with a larger budget stays the same parent run."""
        search = config_to_dict(self.config)["search"]
        for name in NOT_IN_KEY:
            search.pop(name, None)
        probe = self.planner.trials(probe_params(self.config), seeds=[0])[0]
        return stable_hash(["search", search, probe.trial_id])

    def objectives(self, states: list[TrialState]) -> dict[str, float | None]:
        """label -> mean objective of each search configuration whose seeds are all done."""
        done = {s.trial.folder: s for s in states if s.done}
        out = {}
        for trials in self.saved.proposals:
            if all(t.folder in done for t in trials):
                values = [objective_of(done[t.folder].metrics, self.search.objective)
                          for t in trials]  # fmt: skip
                out[trials[0].arm] = mean_objective(values)
        return out

    def exhausted_budget(self) -> int | None:
        """The budget at which an earlier command found the space exhausted (None: never)."""
        state, _ = read_json_object(layout.search_state(self.sweep_dir))
        budget = (state or {}).get("exhausted_at_budget")
        return int(budget) if isinstance(budget, int) else None

    def proposals_left(self) -> int:
        """Configurations the sampler is still to propose: none once the space ran out at
        this budget or a larger one (a larger budget since then tries again)."""
        ran_out = self.exhausted_budget()
        if ran_out is not None and ran_out >= self.search.trials:
            return 0
        return max(0, self.search.trials - len(self.saved.proposals))

    def _confirmations_wanted(self, states: list[TrialState]) -> list[Trial]:
        """The confirmation's trials for the current best configurations, once every search
        configuration is done (a failed one could still be the best): the top `confirm.top`
        by the objective, each on the fresh seeds. Chosen anew each command, so a larger
        budget, a new best or more seeds add what is missing; done ones are kept."""
        confirm = self.search.confirm
        finished = self.objectives(states)
        if confirm is None or len(finished) < len(self.saved.proposals):
            return []
        scored = {k: v for k, v in finished.items() if v is not None}
        by_label = {ts[0].arm: ts[0] for ts in self.saved.proposals}
        seeds = confirm_seeds(self.config)
        wanted = []
        for label in best_first(self.config, scored)[: confirm.top]:
            params = dict((by_label[label].search or {})["params"])
            wanted += self.planner.trials(params, CONFIRM, seeds)
        return wanted

    def work_left(self, states: list[TrialState]) -> bool:
        if any(not s.done for s in states) or self.proposals_left() > 0:
            return True
        have = {t.folder for t in self.saved.confirm}
        return any(t.folder not in have for t in self._confirmations_wanted(states))

    def upcoming(self) -> int:
        """Trials not made yet: the budget's proposals (per seed) and the confirmation's."""
        confirm = self.search.confirm
        confirming = confirm.top * confirm.seeds if confirm and not self.saved.confirm else 0
        return self.proposals_left() * len(self.config.sweep.seeds) + confirming

    def summary(self, states: list[TrialState]) -> str:
        done = self.objectives(states)
        return (
            f"search: {len(done)} of {self.search.trials} configurations done (told to the "
            f"sampler), {len(self.saved.proposals) - len(done)} to finish, "
            f"{self.proposals_left()} to propose"
        )

    def _book(self, states: list[TrialState], write: WriteTrials, on_event: EventHandler) -> Any:
        finished = self.objectives(states)
        unfinished = [ts for ts in self.saved.proposals if ts[0].arm not in finished]
        done = {s.trial.folder: objective_of(s.metrics, self.search.objective)
                for s in states if s.done}  # fmt: skip
        budget = len(self.saved.proposals) + self.proposals_left()

        def on_new(trials: list[Trial]) -> None:
            self.saved.proposals.append(trials)
            write(self.trials)
            for t in trials:
                on_event("planned", t.folder, {"trial": t})

        return SearchBook(self.planner, budget, finished, unfinished, on_new, done)

    def run_search(
        self, pool_dirs: dict[str, Path], cluster: dict[str, float], write: WriteTrials,
        on_event: EventHandler, notify: Notify,
    ) -> None:  # fmt: skip
        from ablate.runner.search import run_search

        states = read_states(self.sweep_dir, self.trials)
        book = self._book(states, write, on_event)
        if not book.queue and book.proposed >= book.budget:
            return
        finished = {ts[0].arm: ts[0] for ts in self.saved.proposals}
        told = [(dict((finished[label].search or {})["params"]), value)
                for label, value in book.finished.items()]  # fmt: skip
        run_search(self.config, book, told, self.sweep_dir, pool_dirs, cluster, on_event)
        if book.exhausted:
            state = {"exhausted_at_budget": self.search.trials, "configurations": book.proposed}
            atomic_write_json(layout.search_state(self.sweep_dir), state)
            notify(
                f"note: the sampler proposed only configurations already run, many times in a "
                f"row: the space looks exhausted after {book.proposed} configurations"
            )

    def confirm_trials(
        self, write: WriteTrials, on_event: EventHandler, notify: Notify
    ) -> list[Trial]:
        """The confirmation's trials: those made before and those the current best
        configurations still need (_confirmations_wanted)."""
        if self.search.confirm is None:
            return self.saved.confirm
        states = read_states(self.sweep_dir, self.trials)
        if len(self.objectives(states)) < len(self.saved.proposals):
            notify("note: the confirmation waits until every configuration is done "
                   "(some failed): `ablate resume` runs them, then it")  # fmt: skip
            return self.saved.confirm
        have = {t.folder for t in self.saved.confirm}
        new = [t for t in self._confirmations_wanted(states) if t.folder not in have]
        if new:
            self.saved.confirm += new
            write(self.trials)
            for t in new:
                on_event("planned", t.folder, {"trial": t})
        return self.saved.confirm
