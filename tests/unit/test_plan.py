"""Behaviour of the planner: one trial per cell, ids that hash exactly what changes a result."""

from __future__ import annotations

import copy
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ablate.config.load import load_config
from ablate.config.schema import (
    ArmConfig,
    Config,
    JudgeConfig,
    ModelConfig,
    PoolConfig,
    SweepSpec,
)
from ablate.data.pools import fingerprints
from ablate.data.pools import pool_key as pool_fingerprint
from ablate.plan import STAGES, Trial, duplicate_arms, judge_name, plan_trials
from ablate.stages import code_versions

REPO = Path(__file__).resolve().parents[2]


def base_config() -> Config:
    return Config(
        name="unit",
        model=ModelConfig(name_or_path="builtin:tiny"),
        pools={
            "syn": PoolConfig(source="synthetic", size=500, seed=0),
            "other": PoolConfig(source="synthetic", size=500, seed=1),
        },
        judge=JudgeConfig(model="builtin:tiny"),
        sweep=SweepSpec(
            arms={"b_arm": ArmConfig(pool="syn"), "a_arm": ArmConfig(pool="other")},
            sizes=[64, 16, 32],
            seeds=[3, 1],
        ),
    )


def plan(config: Config) -> list[Trial]:
    pool_fps, eval_fp = fingerprints(config.pools, config.evaluation.prompts)
    return plan_trials(config, pool_fps, eval_fp, code_versions)


def ids(config: Config) -> list[str]:
    return [t.trial_id for t in plan(config)]


def changed(config: Config, dotted: str, value: Any) -> Config:
    """A deep copy of `config` with one dotted attribute (or dict entry) set to `value`."""
    config = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    target: Any = config
    for part in parents:
        target = target[part] if isinstance(target, dict) else getattr(target, part)
    assert hasattr(target, last), f"{dotted} is not a setting"
    setattr(target, last, value)
    return config


# --- the grid -------------------------------------------------------------------------------


def test_one_trial_per_arm_size_seed_in_declared_order() -> None:
    trials = plan(base_config())
    cells = [(t.arm, t.n_examples, t.seed) for t in trials]
    assert cells == list(itertools.product(["b_arm", "a_arm"], [64, 16, 32], [3, 1]))
    assert [t.pool for t in trials[:6]] == ["syn"] * 6
    assert [t.pool for t in trials[6:]] == ["other"] * 6


def test_every_trial_has_a_key_per_stage_and_a_distinct_id_and_folder() -> None:
    trials = plan(base_config())
    assert all(list(t.stage_keys) == list(STAGES) for t in trials)
    assert all(t.trial_id == t.stage_keys["score"] for t in trials)
    assert len({t.trial_id for t in trials}) == len(trials)
    assert len({t.folder for t in trials}) == len(trials)
    assert trials[0].folder == "b_arm-n64-s3"


def test_trials_differing_only_in_seed_or_size_have_different_keys_at_every_stage() -> None:
    trials = {(t.arm, t.n_examples, t.seed): t for t in plan(base_config())}
    for stage in STAGES:
        assert trials["b_arm", 64, 3].stage_keys[stage] != trials["b_arm", 64, 1].stage_keys[stage]
        assert trials["b_arm", 64, 3].stage_keys[stage] != trials["b_arm", 16, 3].stage_keys[stage]


def test_a_seed_gives_the_same_id_whatever_the_other_seeds_and_sizes() -> None:
    config = base_config()
    alone = changed(changed(config, "sweep.seeds", [1]), "sweep.sizes", [16])
    full = {(t.arm, t.n_examples, t.seed): t.trial_id for t in plan(config)}
    for t in plan(alone):
        assert full[t.arm, t.n_examples, t.seed] == t.trial_id


def test_a_changed_seed_changes_the_trial_id() -> None:
    config = changed(base_config(), "sweep.seeds", [1])
    other = changed(config, "sweep.seeds", [2])
    assert set(ids(config)).isdisjoint(ids(other))


# --- stability ------------------------------------------------------------------------------


def write_sweep(folder: Path) -> Path:
    """A sweep with a jsonl pool beside it, so ids depend on file content too."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(40)]
    (folder / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    experiment = {
        "model": {"name_or_path": "builtin:tiny"},
        "judge": {"model": "builtin:tiny"},
        "pools": {
            "file": {"source": "jsonl", "path": "pool.jsonl"},
            "syn": {"source": "synthetic", "size": 100},
        },
    }
    sweep = {
        "name": "stable",
        "experiment": "exp.yaml",
        "sweep": {
            "arms": {"f": {"pool": "file"}, "s": {"pool": "syn"}},
            "sizes": [8, 16],
            "seeds": [0, 1],
        },
    }
    (folder / "exp.yaml").write_text(yaml.safe_dump(experiment), "utf-8")
    (folder / "sweep.yaml").write_text(yaml.safe_dump(sweep), "utf-8")
    return folder / "sweep.yaml"


IDS_SCRIPT = """
import json, sys
from ablate.config.load import load_config
from ablate.data.pools import fingerprints
from ablate.plan import plan_trials
from ablate.stages import code_versions
config = load_config(sys.argv[1])
pool_fps, eval_fp = fingerprints(config.pools, config.evaluation.prompts)
print(json.dumps([t.stage_keys for t in plan_trials(config, pool_fps, eval_fp, code_versions)]))
"""


def test_ids_are_stable_across_two_loads_of_the_same_files(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    first = plan(load_config(path))
    second = plan(load_config(path))
    assert [t.stage_keys for t in first] == [t.stage_keys for t in second]


def test_ids_are_stable_across_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    here = [t.stage_keys for t in plan(load_config(path))]
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", IDS_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        )
        assert json.loads(done.stdout) == here


def test_ids_do_not_depend_on_where_the_sweep_and_its_data_sit(tmp_path: Path) -> None:
    path = write_sweep(tmp_path / "one")
    moved = tmp_path / "elsewhere" / "two"
    shutil.copytree(tmp_path / "one", moved)
    assert ids(load_config(path)) == ids(load_config(moved / "sweep.yaml"))


def test_quickstart_plans_one_trial_per_size() -> None:
    trials = plan(load_config(REPO / "sweeps" / "quickstart.yaml"))
    assert [(t.arm, t.n_examples, t.seed) for t in trials] == [
        ("synthetic", n, 0) for n in (32, 64, 128, 256)
    ]


def test_the_tasks_sweep_plans_two_arms_by_three_sizes_by_two_seeds() -> None:
    trials = plan(load_config(REPO / "sweeps" / "tasks.yaml"))
    assert sorted((t.arm, t.n_examples, t.seed) for t in trials) == [
        (arm, n, seed) for arm in ("addition", "synthetic") for n in (128, 256, 512)
        for seed in (0, 1)
    ]  # fmt: skip
    assert len({t.trial_id for t in trials}) == 12


# --- what the id covers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("training.learning_rate", 2e-5),
        ("training.final_learning_rate", 5e-7),
        ("training.epochs", 3),
        ("training.method", "full"),
        ("training.batch_size", 64),
        ("training.max_seq_length", 512),
        ("training.lora.r", 8),
        ("generation.temperature", 0.3),
        ("generation.top_p", 0.5),
        ("generation.max_new_tokens", 64),
        ("generation.samples_per_prompt", 2),
        ("model.name_or_path", "org/other-model"),
        ("model.revision", "v2"),
        ("judge.model", "org/judge"),
        ("judge.max_input_tokens", 1024),
        ("evaluation.max_prompts", 10),
        ("evaluation.confidence", 0.9),
        ("evaluation.bootstrap_resamples", 500),
        ("evaluation.prompts.seed", 9),
        ("pools.syn.seed", 7),
        ("pools.other.size", 999),
    ],
)
def test_result_relevant_setting_changes_every_trial_id(dotted: str, value: Any) -> None:
    config = base_config()
    new = changed(config, dotted, value)
    before = {t.folder: t.trial_id for t in plan(config)}
    after = {t.folder: t.trial_id for t in plan(new)}
    if dotted.startswith("pools."):  # only the arm that samples from this pool
        pool = dotted.split(".")[1]
        touched = {t.folder for t in plan(config) if t.pool == pool}
    else:
        touched = set(before)
    assert touched
    for folder in before:
        assert (before[folder] != after[folder]) == (folder in touched), folder


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("resources.cpus_per_trial", 8.0),
        ("resources.gpus_per_trial", 1.0),
        ("resources.max_concurrent_trials", 3),
        ("resources.max_retries", 5),
        ("training.micro_batch_size", 1),
        ("training.gradient_checkpointing", True),
        ("training.packing", True),
        ("training.packing", False),
        ("training.group_by_length", False),
        ("training.checkpoint_every", "100 steps"),
        ("training.checkpoint_every", None),
        ("training.attn_implementation", "flash_attention_2"),
        ("judge.batch_size", 1),
        ("tracking.enabled", False),
        ("tracking.tracking_uri", "http://mlflow.example:5000"),
        ("name", "renamed"),
        ("experiment", "/somewhere/else.yaml"),
    ],
)
def test_runtime_only_setting_keeps_every_stage_key(dotted: str, value: Any) -> None:
    config = base_config()
    before = [t.stage_keys for t in plan(config)]
    assert [t.stage_keys for t in plan(changed(config, dotted, value))] == before


def keys_by_stage(config: Config) -> dict[str, list[str]]:
    trials = plan(config)
    return {stage: [t.stage_keys[stage] for t in trials] for stage in STAGES}


@pytest.mark.parametrize(
    ("dotted", "value", "first_changed"),
    [
        ("pools.syn.seed", 4, "select"),
        ("training.learning_rate", 3e-5, "train"),
        ("model.name_or_path", "org/m", "train"),
        ("generation.temperature", 0.1, "generate"),
        ("evaluation.max_prompts", 5, "generate"),
        ("judge.model", "org/other-judge", "judge"),
        ("judge.max_input_tokens", 100, "judge"),
        ("evaluation.bootstrap_resamples", 99, "score"),
    ],
)
def test_a_change_invalidates_its_stage_and_the_ones_after_only(
    dotted: str, value: Any, first_changed: str
) -> None:
    config = base_config()
    if dotted.startswith("pools."):
        config = changed(config, "sweep.arms", {"x": ArmConfig(pool="syn")})
    before, after = keys_by_stage(config), keys_by_stage(changed(config, dotted, value))
    start = STAGES.index(first_changed)
    for stage in STAGES[:start]:
        assert before[stage] == after[stage], stage
    for stage in STAGES[start:]:
        assert all(b != a for b, a in zip(before[stage], after[stage], strict=True)), stage


def test_changing_only_the_judge_model_rekeys_only_judge_and_score() -> None:
    config = base_config()
    before = plan(config)
    after = plan(changed(config, "judge.model", "org/bigger-judge"))
    for old, new in zip(before, after, strict=True):
        for stage in ("select", "train", "generate"):
            assert old.stage_keys[stage] == new.stage_keys[stage]
        for stage in ("judge", "score"):
            assert old.stage_keys[stage] != new.stage_keys[stage]
        assert old.trial_id != new.trial_id


# --- duplicate arms -------------------------------------------------------------------------


def test_duplicate_arms_finds_arms_with_identical_pools() -> None:
    config = base_config()
    config.pools["twin"] = PoolConfig(source="synthetic", size=500, seed=0)  # same as "syn"
    config.sweep.arms = {
        "a": ArmConfig(pool="syn"),
        "b": ArmConfig(pool="other"),
        "c": ArmConfig(pool="twin"),
    }
    assert duplicate_arms(plan(config)) == [("a", "c")]


def test_duplicate_arms_finds_two_arms_on_the_same_pool() -> None:
    config = base_config()
    config.sweep.arms = {"x": ArmConfig(pool="syn"), "y": ArmConfig(pool="syn")}
    assert duplicate_arms(plan(config)) == [("x", "y")]


def test_distinct_arms_are_not_duplicates() -> None:
    assert duplicate_arms(plan(base_config())) == []


# --- pool fingerprints ----------------------------------------------------------------------


def jsonl_pool(path: Path, **fields: str) -> PoolConfig:
    return PoolConfig(source="jsonl", path=str(path), **fields)


def test_jsonl_fingerprint_follows_content_not_path(tmp_path: Path) -> None:
    first = tmp_path / "a" / "pool.jsonl"
    first.parent.mkdir()
    first.write_text(
        '{"prompt": "p1", "response": "r1"}\n{"prompt": "p2", "response": "r2"}\n', "utf-8"
    )
    copied = tmp_path / "b" / "renamed.jsonl"
    copied.parent.mkdir()
    shutil.copyfile(first, copied)
    original = pool_fingerprint(jsonl_pool(first))

    assert pool_fingerprint(jsonl_pool(copied)) == original

    copied.write_text(copied.read_text("utf-8").replace("r2", "r2 edited"), "utf-8")
    assert pool_fingerprint(jsonl_pool(copied)) != original
    assert pool_fingerprint(jsonl_pool(first)) == original


def test_jsonl_fingerprint_depends_on_which_fields_are_read(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text('{"prompt": "p", "response": "r", "alt": "x"}\n', "utf-8")
    plain = pool_fingerprint(jsonl_pool(path))
    assert pool_fingerprint(jsonl_pool(path, response_field="alt")) != plain
    assert pool_fingerprint(jsonl_pool(path, prompt_field="alt")) != plain


def test_synthetic_fingerprint_depends_on_size_and_seed_only() -> None:
    base = pool_fingerprint(PoolConfig(source="synthetic", size=100, seed=0))
    assert pool_fingerprint(PoolConfig(source="synthetic", size=100, seed=0)) == base
    assert pool_fingerprint(PoolConfig(source="synthetic", size=101, seed=0)) != base
    assert pool_fingerprint(PoolConfig(source="synthetic", size=100, seed=1)) != base


def test_editing_a_jsonl_pool_changes_its_trial_ids(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    before = {t.folder: t.trial_id for t in plan(load_config(path))}
    pool = tmp_path / "pool.jsonl"
    pool.write_text(pool.read_text("utf-8") + '{"prompt": "new", "response": "new"}\n', "utf-8")
    after = {t.folder: t.trial_id for t in plan(load_config(path))}
    for folder in before:
        assert (before[folder] != after[folder]) == folder.startswith("f-"), folder


def test_lora_settings_do_not_count_for_a_full_fine_tune() -> None:
    full = changed(base_config(), "training.method", "full")
    assert ids(changed(full, "training.lora.r", 64)) == ids(full)
    lora = changed(base_config(), "training.method", "lora")
    assert ids(changed(lora, "training.lora.r", 64)) != ids(lora)


def test_code_versions_handed_to_the_plan_are_part_of_the_keys() -> None:
    """The plan imports no component: the versions it keys with are handed in, and each one
    reaches exactly the stages whose output it changes."""
    import dataclasses

    from ablate.plan import CodeVersions

    config = base_config()
    base = code_versions(config)
    pool_fps, eval_fp = fingerprints(config.pools, config.evaluation.prompts)

    def keys(code: CodeVersions) -> dict[str, list[str]]:
        trials = plan_trials(config, pool_fps, eval_fp, lambda _: code)
        return {stage: [t.stage_keys[stage] for t in trials] for stage in STAGES}

    before = keys(base)
    rubric = keys(dataclasses.replace(base, judge_rubric=99))
    assert rubric["train"] == before["train"] and rubric["judge"] != before["judge"]
    chat = keys(dataclasses.replace(base, chat_template=99))
    assert chat["select"] == before["select"] and chat["train"] != before["train"]
    score = keys(dataclasses.replace(base, stages={**base.stages, "score": 99}))
    assert score["judge"] == before["judge"] and score["score"] != before["score"]


def test_judges_with_other_settings_get_other_folders() -> None:
    def name(**judge: Any) -> str:
        config = Config(name="x", judge=JudgeConfig(model="mistral:7b", **judge))
        return judge_name(config, code_versions(config))

    assert name() != name(temperature=0.5)
    other = Config(name="x", judge=JudgeConfig(model="qwen2.5:7b"))
    assert name() != judge_name(other, code_versions(other))
    assert name() == name(max_concurrency=64), "runtime settings do not make another judge"
    assert name(name="mine") == "mine"
