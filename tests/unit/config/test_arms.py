"""Arms that vary anything: mixtures of pools sampled deterministically and nested across
sizes, overrides of model/training/generation settings, a grid crossed with the arms; trial
ids that differ exactly when the resolved settings do."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ablate.checks import load
from ablate.config.arms import allocation, counts, variants
from ablate.data.mixtures import mixed_subset
from ablate.data.pools import fingerprints
from ablate.data.select import nested_subset
from ablate.errors import ConfigError
from ablate.plan import plan_trials, resolved_config
from ablate.stages import code_versions

EXPERIMENT: dict[str, Any] = {
    "model": {"name_or_path": "builtin:tiny"},
    "pools": {
        "a": {"source": "synthetic", "size": 300, "seed": 0},
        "b": {"source": "synthetic", "size": 300, "seed": 1},
    },
    "judge": {"model": "builtin:tiny"},
}


def write(folder: Path, arms: dict[str, Any], grid: dict[str, Any] | None = None) -> Path:
    (folder / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT))
    sweep = {"name": "arms", "experiment": "exp.yaml",
             "sweep": {"arms": arms, "sizes": [16, 32], "seeds": [0]}}  # fmt: skip
    if grid:
        sweep["sweep"]["grid"] = grid
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(sweep)))
    return path


def ids_by_arm(path: Path) -> dict[str, list[str]]:
    config = load(path)
    pool_fps, eval_fp = fingerprints(config.pools, config.evaluation.prompts)
    trials = plan_trials(config, pool_fps, eval_fp, code_versions)
    out: dict[str, list[str]] = {}
    for t in trials:
        out.setdefault(t.arm, []).append(t.trial_id)
    return out


# --- mixtures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights", [{"a": 0.5, "b": 0.5}, {"a": 0.2, "b": 0.8}, {"x": 0.1, "y": 0.3, "z": 0.6}]
)
def test_allocation_is_nested_and_within_one_of_the_shares(weights: dict[str, float]) -> None:
    longest = allocation(weights, 500)
    for n in (1, 7, 64, 500):
        assert allocation(weights, n) == longest[:n], "every size is a prefix of a larger one"
        got = counts(weights, n)
        assert sum(got.values()) == n
        assert all(abs(got[p] - n * w) < 1 for p, w in weights.items()), (n, got)


def test_mixed_subsets_are_nested_and_draw_each_pools_own_shuffle() -> None:
    records = {"a": [f"a{i}" for i in range(50)], "b": [f"b{i}" for i in range(50)]}
    weights = {"a": 0.25, "b": 0.75}
    small = mixed_subset(records, weights, 8, seed=3)
    large = mixed_subset(records, weights, 40, seed=3)
    assert large[:8] == small
    # Pool a's examples are the prefix of pool a's shuffle, as a single-pool arm draws them.
    from_a = [r for r in large if r.startswith("a")]
    assert from_a == nested_subset(records["a"], len(from_a), 3, "a")
    assert mixed_subset(records, weights, 40, seed=4) != large


def test_a_pool_too_small_for_its_share_is_a_user_error() -> None:
    from ablate.errors import UserError

    with pytest.raises(UserError, match="pool 'a' has 3 records"):
        mixed_subset({"a": ["x"] * 3, "b": ["y"] * 50}, {"a": 0.5, "b": 0.5}, 10, seed=0)


# --- variants and ids ---------------------------------------------------------------------


def test_ids_differ_exactly_when_resolved_settings_differ(tmp_path: Path) -> None:
    ids = ids_by_arm(write(tmp_path, {
        "base": {"pool": "a"},
        "fast": {"pool": "a", "overrides": {"training.learning_rate": 3e-3}},
        "mixed": {"data": {"mixture": {"a": 0.5, "b": 0.5}}},
    }))  # fmt: skip
    assert len({i for values in ids.values() for i in values}) == 6  # 3 arms x 2 sizes
    (tmp_path / "renamed").mkdir()
    renamed = ids_by_arm(write(tmp_path / "renamed", {
        "other_name": {"data": {"pool": "a"}},
        "speedy": {"pool": "a", "overrides": {"training": {"learning_rate": 3e-3}}},
        "blend": {"data": {"mixture": {"b": 1, "a": 1}}},  # same shares, other order and scale
    }))  # fmt: skip
    assert renamed["other_name"] == ids["base"], "a renamed arm with the same settings"
    assert renamed["speedy"] == ids["fast"], "nested and dotted overrides are the same setting"
    assert renamed["blend"] == ids["mixed"], "weights are normalised"


def test_an_override_equal_to_the_default_is_the_same_trial_and_is_refused(tmp_path: Path) -> None:
    from ablate.checks import checked_plan
    from ablate.errors import UserError

    default_lr = load(write(tmp_path, {"x": {"pool": "a"}})).training.learning_rate
    path = write(tmp_path, {
        "x": {"pool": "a"}, "y": {"pool": "a", "overrides": {"training.learning_rate": default_lr}},
    })  # fmt: skip
    with pytest.raises(UserError, match="identical data and settings"):
        checked_plan(load(path))


def test_a_grid_crosses_every_arm_and_arms_are_compared_within_a_grid_point(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        {"x": {"pool": "a"}, "y": {"pool": "b"}},
        grid={"training.learning_rate": [1e-3, 3e-3]},
    )
    config = load(path)
    found = variants(config)
    assert [v.name for v in found] == [
        "x-learning_rate_0_001", "x-learning_rate_0_003",
        "y-learning_rate_0_001", "y-learning_rate_0_003",
    ]  # fmt: skip
    assert {v.family for v in found} == {"learning_rate_0_001", "learning_rate_0_003"}
    trial = next(t for t in plan_of(config) if t.arm == "y-learning_rate_0_003")
    assert resolved_config(config, trial).training.learning_rate == 3e-3
    assert trial.family == "learning_rate_0_003"

    from ablate.answer import design_of

    design = design_of(config)
    assert sorted(map(sorted, design.families or [])) == [
        ["x-learning_rate_0_001", "y-learning_rate_0_001"],
        ["x-learning_rate_0_003", "y-learning_rate_0_003"],
    ]


def plan_of(config: Any) -> list[Any]:
    pool_fps, eval_fp = fingerprints(config.pools, config.evaluation.prompts)
    return plan_trials(config, pool_fps, eval_fp, code_versions)


# --- problems at their dotted paths --------------------------------------------------------


@pytest.mark.parametrize(
    ("arms", "grid", "path", "needle"),
    [
        ({"x": {"pool": "a", "overrides": {"training.learning_rat": 1e-3}}}, None,
         "sweep.arms.x.overrides", "learning_rat"),
        ({"x": {"pool": "a", "overrides": {"judge.model": "other"}}}, None,
         "sweep.arms.x.overrides.judge.model", "an arm may vary model.*, training.*, generation.*"),
        ({"x": {"pool": "a", "overrides": {"training.epochs": "many"}}}, None,
         "sweep.arms.x.overrides", "many"),
        ({"x": {"pool": "a", "overrides": {"training.learning_rate": -1}}}, None,
         "sweep.arms.x.overrides", "training.learning_rate: must be > 0"),
        ({"x": {"data": {"mixture": {"a": 0.5, "c": 0.5}}}}, None,
         "sweep.arms.x.data.mixture.c", "no pool 'c'"),
        ({"x": {"data": {"mixture": {"a": 0.5, "b": 0}}}}, None,
         "sweep.arms.x.data.mixture.b", "must be > 0"),
        ({"x": {"pool": "a", "data": {"pool": "b"}}}, None, "sweep.arms.x", "exactly one of"),
        ({"x": {"pool": "a"}}, {"training.epochs": 3},
         "sweep.grid.training.epochs", "non-empty list"),
        ({"x": {"pool": "a"}}, {"evaluation.max_prompts": [2, 3]},
         "sweep.grid.evaluation.max_prompts", "an arm may vary"),
        ({"x": {"pool": "a"}}, {"generation.top_p": [0.9, 2.0]}, "sweep.grid", "generation.top_p"),
    ],
)  # fmt: skip
def test_bad_arms_and_grids_are_reported_at_their_paths(
    tmp_path: Path, arms: dict[str, Any], grid: dict[str, Any] | None, path: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, arms, grid))
    matching = [p for p in info.value.problems if p.startswith(f"{path}") or f": {path}" in p]
    assert matching and any(needle in p for p in matching), info.value.problems
