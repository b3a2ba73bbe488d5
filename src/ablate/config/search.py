"""The `search:` section checked (pure): sampler, budget, objective, space and mixture, each
problem with its dotted path (ablate.search.space reads the checked section)."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from typing import Any

from omegaconf.errors import OmegaConfBaseException

from ablate.config.arms import ARM_SECTIONS, apply_overrides
from ablate.config.schema import Config, SearchConfig
from ablate.registry import suggest

SAMPLERS = ("tpe", "random", "gp", "cmaes")
DIRECTIONS = ("maximize", "minimize")
# Trial metrics a search can optimise, with the direction that is better.
OBJECTIVES = {
    "judge_mean": "maximize",
    "judge_t_mean": "maximize",
    "judge_win_rate": "maximize",
    "judge_excellent_rate": "maximize",
    "judge_unscored_rate": "minimize",
    "heldout_loss": "minimize",
    "train_loss": "minimize",
}
# Objectives only one judge mode measures.
OBJECTIVE_MODES = {"judge_win_rate": "pairwise", "judge_excellent_rate": "absolute"}
RANGE_KEYS = ("low", "high", "log", "step")
# validate's check of settings as an arm sets them: (config, where, {setting: value}) -> problems
SettingProblems = Callable[[Config, str, dict[str, Any]], list[str]]


def space_entries(space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted setting -> its list or range; nested {training: {learning_rate: {low: ...}}} and
    dotted keys alike (a mapping with low or high is a range, not a section)."""
    out: dict[str, Any] = {}
    for key, value in space.items():
        if isinstance(value, dict) and value and not ({"low", "high"} & set(value)):
            out |= space_entries(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _setting_type(config: Config, dotted: str) -> type | None:
    node: Any = config
    for part in dotted.split("."):
        if not hasattr(node, part):
            return None
        node = getattr(node, part)
    return type(node)


def _value_problems(
    config: Config, path: str, name: str, value: Any, check: SettingProblems | None = None
) -> list[str]:
    try:
        apply_overrides(config, {name: value})
    except (OmegaConfBaseException, TypeError, ValueError) as exc:
        return [f"{path}: {str(exc).splitlines()[0]}"]
    return check(config, path, {name: value}) if check else []


def _range_problems(
    config: Config, path: str, name: str, spec: dict[str, Any], check: SettingProblems | None
) -> list[str]:
    unknown = [k for k in spec if k not in RANGE_KEYS]
    if unknown:
        return [f"{path}: unknown key(s) {unknown}; a range takes {list(RANGE_KEYS)}"]
    if not (_number(spec.get("low")) and _number(spec.get("high"))):
        return [
            f"{path}: a range needs numbers low and high, got low={spec.get('low')}, "
            f"high={spec.get('high')}"
        ]
    low, high = float(spec["low"]), float(spec["high"])
    if _setting_type(config, name) not in (int, float):
        return [f"{path}: a range needs a numeric setting; give a list of values instead"]
    problems = []
    if low >= high:
        problems.append(f"{path}: low ({low}) must be below high ({high})")
    if spec.get("log") and low <= 0:
        problems.append(f"{path}: a log range needs low > 0, got {low}")
    if spec.get("log") and spec.get("step") is not None:
        problems.append(f"{path}: give log or step, not both (Optuna samples one or the other)")
    problems += _step_problems(config, path, name, spec.get("step"), high - low)
    if _setting_type(config, name) is int and not (low.is_integer() and high.is_integer()):
        problems.append(f"{path}: {name} is an integer setting; give integer low and high")
    for end in (low, high):
        value = int(end) if _setting_type(config, name) is int else float(end)
        problems += _value_problems(config, path, name, value, check)
    return problems


def _step_problems(config: Config, path: str, name: str, step: Any, width: float) -> list[str]:
    if step is None:
        return []
    if not _number(step) or step <= 0:
        return [f"{path}: step must be a number > 0, got {step}"]
    if _setting_type(config, name) is int and not float(step).is_integer():
        return [f"{path}: {name} is an integer setting; give an integer step"]
    if width > 0 and step > width:
        return [f"{path}: step ({step}) is wider than the range ({width:g})"]
    return []


def _dimension_problems(
    config: Config, name: str, spec: Any, check: SettingProblems | None
) -> list[str]:
    path = f"search.space.{name}"
    if name.split(".")[0] not in ARM_SECTIONS:
        return [
            f"{path}: a search may vary {', '.join(f'{s}.*' for s in ARM_SECTIONS)}; the judge, "
            "the evaluation and the rest stay the sweep's (the size is sweep.sizes, the data "
            "search.mixture)"
        ]
    if _setting_type(config, name) is None:
        return [f"{path}: no setting {name} in the config"]
    if isinstance(spec, list):
        if not spec:
            return [f"{path}: give at least one value"]
        return [p for v in spec for p in _value_problems(config, path, name, v, check)]
    if isinstance(spec, dict):
        return _range_problems(config, path, name, spec, check)
    return [f"{path}: give a list of values or a range {{low: ..., high: ..., log: true}}"]


def _mixture_problems(config: Config, search: SearchConfig) -> list[str]:
    known, problems = sorted(config.pools), []
    for i, pool in enumerate(search.mixture):
        if pool not in config.pools:
            problems.append(
                f"search.mixture[{i}]: no pool '{pool}' in pools {known}.{suggest(pool, known)}"
            )
    if len(set(search.mixture)) != len(search.mixture):
        problems.append(f"search.mixture: repeated pools in {list(search.mixture)}")
    return problems


def _arm_problems(config: Config, search: SearchConfig) -> list[str]:
    arms, problems = config.sweep.arms, []
    if len(arms) > 1:
        problems.append(
            f"sweep.arms: a search explores the settings of one arm, got {len(arms)} "
            f"({', '.join(arms)}); keep one (or none with search.mixture)"
        )
    if not arms and not search.mixture:
        problems.append("sweep.arms: a search needs one arm or search.mixture for its data")
    if config.sweep.grid:
        problems.append("sweep.grid: a search samples its settings; put them in search.space")
    if config.judge.reference_arm:
        problems.append("judge.reference_arm: a search has no other arm to judge against")
    return problems


def _budget_problems(search: SearchConfig) -> list[str]:
    problems = []
    if search.trials < 1:
        problems.append(f"search.trials: the budget must be >= 1, got {search.trials}")
    if search.max_concurrent < 0:
        problems.append(f"search.max_concurrent: must be >= 0, got {search.max_concurrent}")
    if search.confirm is not None:
        c = search.confirm
        if c.top < 1 or c.top > search.trials:
            problems.append(f"search.confirm.top: must be in [1, {search.trials}], got {c.top}")
        if c.seeds < 1:
            problems.append(f"search.confirm.seeds: must be >= 1, got {c.seeds}")
    return problems


def objectives(config: Config) -> dict[str, str]:
    """The metrics this sweep's trials have that a search can optimise, with the better
    direction: the judge's, the losses, and each task's accuracy (evaluation.tasks)."""
    tasks = {f"task_{name}_accuracy": "maximize" for name in config.evaluation.tasks}
    return OBJECTIVES | tasks


def _choice_problems(config: Config, search: SearchConfig) -> list[str]:
    problems = []
    if search.sampler not in SAMPLERS:
        problems.append(
            f"search.sampler: '{search.sampler}' is not one of {list(SAMPLERS)}."
            f"{suggest(search.sampler, list(SAMPLERS))}"
        )
    elif search.sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        problems.append("search.sampler: cmaes needs the cmaes package: pip install cmaes")
    if search.objective not in objectives(config):
        names = sorted(objectives(config))
        problems.append(
            f"search.objective: '{search.objective}' is not a trial metric a search can "
            f"optimise ({', '.join(names)}).{suggest(search.objective, names)}"
        )
    needs = OBJECTIVE_MODES.get(search.objective)
    if needs is not None and config.judge.mode != needs:
        problems.append(
            f"search.objective: {search.objective} is measured by a {needs} judge only; "
            f"judge.mode is {config.judge.mode} (choose judge_mean, or judge.mode={needs})"
        )
    if search.direction is not None and search.direction not in DIRECTIONS:
        problems.append(f"search.direction: '{search.direction}' is not one of {list(DIRECTIONS)}")
    return problems


def search_problems(config: Config, check: SettingProblems | None = None) -> list[str]:
    """Every problem of the search section; [] for a grid sweep. `check`: validate's checks of
    a setting's value (a range's ends and each choice are checked as an arm would set them)."""
    search = config.search
    if search is None:
        return []
    problems = _choice_problems(config, search) + _budget_problems(search)
    problems += _arm_problems(config, search) + _mixture_problems(config, search)
    for name, spec in space_entries(dict(search.space)).items():
        problems += _dimension_problems(config, name, spec, check)
    if not search.space and len(search.mixture) < 2 and len(config.sweep.sizes) < 2:
        problems.append(
            "search.space: nothing to search; give settings in search.space, two or more "
            "pools in search.mixture, or several sweep.sizes"
        )
    return problems
