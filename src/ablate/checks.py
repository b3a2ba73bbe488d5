"""Every check that runs before a trial, in one place, so `validate`, `plan` and `run` agree.

Two groups:
- sweep checks (`checked_plan`): the config and the plan, with the data that is already there
  (direct pools, evaluation prompts). `validate`, `plan` and `run` run all of them and refuse
  alike (exit 2).
- environment checks (`check_environment`, `check_results_dir`): what a run needs from the
  world: downloaded data, loadable models, a reachable judge, a writable results folder and
  tracking store. `run` (and `resume`) refuse on them before writing anything; `validate` and
  `plan` report missing downloads as warnings, since a sweep may be checked before its data is
  fetched.
"""

from __future__ import annotations

import os
from pathlib import Path

from ablate.config.arms import apply_overrides, variants
from ablate.config.load import load_config
from ablate.config.schema import Config
from ablate.data.checks import check_pools, require_data
from ablate.errors import UserError
from ablate.files import stable_hash
from ablate.plan import Trial, duplicate_arms, plan_trials


def plugin_problems(config: Config, whole_sweep: bool) -> list[str]:
    """What the plug-ins know is wrong: each pool's source, and the judge's backend and mode."""
    from ablate.data.sources import pool_problems

    pools = [(f"pools.{name}", pool) for name, pool in config.pools.items()]
    if whole_sweep:
        pools.append(("evaluation.prompts", config.evaluation.prompts))
    problems = [p for path, pool in pools for p in pool_problems(path, pool)]
    if whole_sweep:
        from ablate.judge.checks import judge_problems

        problems += judge_problems(config)
    return problems


def load(
    path: str | Path, overrides: list[str] | None = None, require_sweep: bool = True
) -> Config:
    """The validated config with every problem at once, the plug-ins' included."""
    return load_config(path, overrides, require_sweep, plugin_problems)


def _reference_arm_problem(config: Config, results_dir: Path) -> str | None:
    """Pairwise against another arm needs that arm's generations: a finished sweep's job."""
    if config.judge.reference_arm:
        return (
            "judge.reference_arm: comparing with another arm needs that arm's generations "
            "first; run the sweep with a likert or absolute judge, then "
            f"`ablate judge {results_dir / config.name} judge.mode=pairwise "
            f"judge.reference_arm={config.judge.reference_arm}`."
        )
    return None


def plan_fingerprints(config: Config) -> tuple[dict[str, str], str]:
    """Each pool's key, and the evaluation's: its prompts' key, with the content of its tasks
    and dialogues when there are any (without, the prompts' key alone, as before they
    existed, so earlier trial ids stand)."""
    from ablate.data.pools import fingerprints

    e = config.evaluation
    pool_fps, eval_fp = fingerprints(config.pools, e.prompts)
    if e.tasks:
        from ablate.tasks.sets import tasks_fingerprint

        eval_fp = stable_hash([eval_fp, tasks_fingerprint(e.tasks)])
    if e.dialogues is not None:
        from ablate.dialogues.sets import dialogues_fingerprint

        eval_fp = stable_hash([eval_fp, "dialogues", dialogues_fingerprint(e.dialogues)])
    return pool_fps, eval_fp


def checked_plan(config: Config, results_dir: Path = Path("results")) -> list[Trial]:
    """The sweep's trials, after every sweep check (see the module docstring)."""
    from ablate.judge.backends import judge_fingerprint
    from ablate.stages import code_versions

    problem = _reference_arm_problem(config, results_dir)
    if problem:
        raise UserError(problem)
    check_judge_files(config)
    check_pools(config)
    if config.search is not None:
        return []  # a search's trials are proposed as it runs (ablate.search_session)
    pool_fps, eval_fp = plan_fingerprints(config)
    trials = plan_trials(config, pool_fps, eval_fp, code_versions, judge_fingerprint(config.judge))
    duplicates = duplicate_arms(trials)
    if duplicates:
        pairs = ", ".join(f"{a} = {b}" for a, b in duplicates)
        raise UserError(
            f"sweep.arms: arms with identical data and settings ({pairs}); "
            "give each arm different data or settings (a renamed arm is the same trials)."
        )
    return trials


def check_judge_files(config: Config) -> None:
    """A judge's template and reference file parse now, not after training in a worker."""
    j = config.judge
    if j.template and j.backend == "openai":
        from ablate.judge.templates import load_template

        load_template(Path(j.template), j.mode)
    if j.reference_file:
        from ablate.judge.references import read_reference_rows

        read_reference_rows(Path(j.reference_file))


def check_models(config: Config) -> None:
    """Every model loads, and an HTTP judge's key and endpoint are there."""
    from ablate.models.load import check_available

    models = {(config.model.name_or_path, config.model.revision): "model.name_or_path"}
    for variant in variants(config):
        resolved = apply_overrides(config, variant.overrides)
        where = f"sweep.arms.{variant.arm}.overrides: model.name_or_path"
        models.setdefault((resolved.model.name_or_path, resolved.model.revision), where)
    if config.search is not None:  # each model a search may choose, before any is drawn
        from ablate.config.search import space_entries

        choices = space_entries(dict(config.search.space)).get("model.name_or_path") or []
        for name in choices if isinstance(choices, list) else []:
            where = "search.space.model.name_or_path"
            models.setdefault((str(name), config.model.revision), where)
    for (name, revision), setting in models.items():
        check_available(name, revision, setting)
    check_judge(config)


def check_judge(config: Config) -> None:
    from ablate.models.load import check_available

    if config.judge.backend == "hf":
        check_available(config.judge.model, None, "judge.model")
    else:
        from ablate.judge.preflight import check_endpoint

        check_endpoint(config.judge)


def check_environment(config: Config) -> None:
    """Before work is done: the downloaded data, the models and the judge are all there."""
    require_data(config)
    check_models(config)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_results_dir(results_dir: Path, option: str = "--results-dir") -> None:
    """The results folder is (or can become) a writable folder; nothing is created here."""
    if results_dir.exists() and not results_dir.is_dir():
        raise UserError(f"{option} {results_dir}: is a file, not a folder; name a folder.")
    existing = _nearest_existing(results_dir)
    if not existing.is_dir():
        raise UserError(f"{option} {results_dir}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(
            f"{option} {results_dir}: {existing} is not writable (read-only?); choose a "
            "folder you can write to."
        )


def check_tracking(config: Config, results_dir: Path) -> None:
    """The tracking store's scheme and file are usable, checked without creating anything."""
    if not config.tracking.enabled:
        return
    from ablate.tracking import store_problem, tracking_uri

    uri = tracking_uri(config.tracking.tracking_uri, results_dir)
    problem = store_problem(uri)
    if problem is not None:
        raise UserError(
            f"MLflow tracking store '{uri}': {problem}. Check MLFLOW_TRACKING_URI / "
            "tracking.tracking_uri, or set tracking.enabled=false."
        )
