"""Behaviour of config loading: precedence, relative paths, and every problem reported at once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

# What a user gets: config loading with the plug-ins' checks (pool sources, judge backends).
from ablate.checks import load as load_config
from ablate.errors import ConfigError, UserError

REPO = Path(__file__).resolve().parents[3]

EXPERIMENT: dict[str, Any] = {
    "model": {"name_or_path": "builtin:tiny"},
    "pools": {"synthetic": {"source": "synthetic", "size": 200, "seed": 0}},
    "judge": {"model": "builtin:tiny"},
}
SWEEP: dict[str, Any] = {
    "name": "unit",
    "experiment": "exp.yaml",
    "sweep": {"arms": {"a": {"pool": "synthetic"}}, "sizes": [16, 32], "seeds": [0]},
}


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_pair(
    folder: Path, experiment: dict[str, Any] | None = None, sweep: dict[str, Any] | None = None
) -> Path:
    """An experiment exp.yaml and a sweep sweep.yaml naming it; returns the sweep's path."""
    write_yaml(folder / "exp.yaml", copy.deepcopy(EXPERIMENT) if experiment is None else experiment)
    return write_yaml(folder / "sweep.yaml", copy.deepcopy(SWEEP) if sweep is None else sweep)


def problems_of(sweep_path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(sweep_path, overrides or [])
    assert info.value.problems, "a ConfigError must list its problems"
    return info.value.problems


def problems_at(problems: list[str], dotted: str) -> list[str]:
    """The problems whose dotted path is exactly `dotted` (with or without a source label)."""
    return [p for p in problems if p.startswith(f"{dotted}:") or f": {dotted}:" in p]


# --- precedence -----------------------------------------------------------------------------


def test_precedence_defaults_then_experiment_then_sweep_then_command_line(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["training"] = {"epochs": 3, "learning_rate": 1.0e-3, "warmup_steps": 7}
    experiment["generation"] = {"temperature": 0.5, "top_p": 0.8}
    sweep = copy.deepcopy(SWEEP)
    sweep["training"] = {"epochs": 4, "learning_rate": 2.0e-3}
    sweep["generation"] = {"top_p": 0.6}
    path = write_pair(tmp_path, experiment, sweep)

    config = load_config(path, ["training.epochs=5"])

    assert config.training.weight_decay == 0.1  # set nowhere: the schema default
    assert config.generation.temperature == 0.5  # experiment only
    assert config.training.warmup_steps == 7  # experiment only
    assert config.generation.top_p == 0.6  # sweep beats experiment
    assert config.training.learning_rate == 2.0e-3  # sweep beats experiment
    assert config.training.epochs == 5  # command line beats sweep and experiment


def test_without_overrides_the_sweep_wins_over_the_experiment(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["training"] = {"epochs": 3}
    sweep = copy.deepcopy(SWEEP)
    sweep["training"] = {"epochs": 4}
    assert load_config(write_pair(tmp_path, experiment, sweep)).training.epochs == 4


def test_sections_merge_key_by_key_across_files(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    sweep["pools"] = {"other": {"source": "synthetic", "size": 100, "seed": 3}}
    config = load_config(write_pair(tmp_path, sweep=sweep))
    assert sorted(config.pools) == ["other", "synthetic"]
    assert config.pools["synthetic"].size == 200
    assert config.pools["other"].seed == 3


def test_lists_are_replaced_not_appended(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["sweep"] = {"sizes": [8, 16, 32], "seeds": [0, 1, 2]}
    sweep = copy.deepcopy(SWEEP)
    sweep["sweep"]["sizes"] = [64]
    config = load_config(write_pair(tmp_path, experiment, sweep), ["sweep.seeds=[5]"])
    assert config.sweep.sizes == [64]
    assert config.sweep.seeds == [5]


def test_yaml_exponent_without_dot_is_still_a_float(tmp_path: Path) -> None:
    # PyYAML reads 1e-4 as a string; the typed schema must still make it a float.
    (tmp_path / "exp.yaml").write_text(
        "model: {name_or_path: builtin:tiny}\n"
        "judge: {model: builtin:tiny}\n"
        "pools: {synthetic: {source: synthetic, size: 200}}\n"
        "training: {learning_rate: 1e-4}\n",
        encoding="utf-8",
    )
    write_yaml(tmp_path / "sweep.yaml", copy.deepcopy(SWEEP))
    config = load_config(tmp_path / "sweep.yaml")
    assert isinstance(config.training.learning_rate, float)
    assert config.training.learning_rate == pytest.approx(1e-4)


# --- relative paths -------------------------------------------------------------------------


def test_paths_in_a_file_are_relative_to_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp_dir = tmp_path / "experiments" / "base"
    sweep_dir = tmp_path / "sweeps"
    (exp_dir / "data").mkdir(parents=True)
    (exp_dir / "data" / "pool.jsonl").write_text('{"prompt": "p", "response": "r"}\n', "utf-8")
    (exp_dir / "data" / "eval.jsonl").write_text('{"prompt": "q"}\n', "utf-8")
    sweep_dir.mkdir()
    (sweep_dir / "local.jsonl").write_text('{"prompt": "p2", "response": "r2"}\n', "utf-8")
    write_yaml(
        exp_dir / "exp.yaml",
        {
            "model": {"name_or_path": "./models/base"},
            "judge": {"model": "org/judge-model"},
            "pools": {"file": {"source": "jsonl", "path": "data/pool.jsonl"}},
            "evaluation": {"prompts": {"source": "jsonl", "path": "data/eval.jsonl"}},
        },
    )
    write_yaml(
        sweep_dir / "s.yaml",
        {
            "name": "paths",
            "experiment": "../experiments/base/exp.yaml",
            "pools": {"local": {"source": "jsonl", "path": "local.jsonl"}},
            "sweep": {"arms": {"a": {"pool": "file"}, "b": {"pool": "local"}}, "sizes": [1]},
        },
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter

    config = load_config(sweep_dir / "s.yaml")

    assert config.experiment == str((exp_dir / "exp.yaml").resolve())
    assert config.pools["file"].path == str((exp_dir / "data" / "pool.jsonl").resolve())
    assert config.pools["local"].path == str((sweep_dir / "local.jsonl").resolve())
    assert config.evaluation.prompts.path == str((exp_dir / "data" / "eval.jsonl").resolve())
    assert config.model.name_or_path == str((exp_dir / "models" / "base").resolve())
    assert Path(config.model.name_or_path).is_absolute()
    assert config.judge.model == "org/judge-model"  # a hub id, not a path


def test_hub_ids_and_builtin_names_are_kept_as_written(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["model"] = {"name_or_path": "meta-llama/Llama-2-7b-hf"}
    experiment["judge"] = {"model": "builtin:tiny"}
    config = load_config(write_pair(tmp_path, experiment))
    assert config.model.name_or_path == "meta-llama/Llama-2-7b-hf"
    assert config.judge.model == "builtin:tiny"


def test_parent_relative_model_path_becomes_absolute(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["judge"] = {"model": "../judges/j"}
    config = load_config(write_pair(tmp_path / "conf", experiment))
    assert config.judge.model == str((tmp_path / "judges" / "j").resolve())


def test_command_line_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_pair(tmp_path / "conf")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "cli.jsonl").write_text('{"prompt": "p", "response": "r"}\n', "utf-8")
    monkeypatch.chdir(cwd)
    config = load_config(
        path,
        ["model.name_or_path=./cli_model", "pools.cli.source=jsonl", "pools.cli.path=cli.jsonl"],
    )
    assert config.model.name_or_path == str((cwd / "cli_model").resolve())
    assert config.pools["cli"].path == str((cwd / "cli.jsonl").resolve())


# --- all problems in one error --------------------------------------------------------------


def test_misspelt_key_wrong_type_and_unknown_pool_are_all_reported(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    sweep["training"] = {"epoch": 3, "batch_size": "many"}
    sweep["sweep"]["arms"] = {"a": {"pool": "synthtic"}}
    path = write_pair(tmp_path, sweep=sweep)

    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems

    assert len(problems) == 3, problems
    misspelt = problems_at(problems, "training.epoch")
    wrong_type = problems_at(problems, "training.batch_size")
    unknown_pool = problems_at(problems, "sweep.arms.a.pool")
    assert len(misspelt) == len(wrong_type) == len(unknown_pool) == 1, problems
    assert "Did you mean" in misspelt[0] and "epochs" in misspelt[0]
    assert "many" in wrong_type[0]
    assert "Did you mean 'synthetic'?" in unknown_pool[0]
    # Problems from a file say which file; the error names the sweep and counts the problems.
    assert str(path) in misspelt[0] and str(path) in wrong_type[0]
    assert str(path) in str(info.value) and "3 problem(s)" in str(info.value)


def test_problems_from_several_sources_are_reported_together(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["generation"] = {"top_k": 5}
    sweep = copy.deepcopy(SWEEP)
    sweep["pools"] = {"synthetic": {"sise": 3}}
    path = write_pair(tmp_path, experiment, sweep)
    problems = problems_of(path, ["training.epochs=lots"])
    assert [p for p in problems_at(problems, "generation.top_k") if "exp.yaml" in p]
    assert [p for p in problems_at(problems, "pools.synthetic.sise") if "sweep.yaml" in p]
    assert [p for p in problems_at(problems, "training.epochs") if "command line" in p]


def test_a_config_error_is_a_user_error(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    sweep["nmae"] = "x"
    with pytest.raises(UserError):
        load_config(write_pair(tmp_path, sweep=sweep))


@pytest.mark.parametrize("override", ["training.epochs", "=3", "training.epochs 3"])
def test_override_without_equals_is_a_user_error(tmp_path: Path, override: str) -> None:
    path = write_pair(tmp_path)
    with pytest.raises(UserError, match="key=value") as info:
        load_config(path, [override])
    assert override in str(info.value)
    assert not isinstance(info.value, ConfigError)


def test_bad_yaml_is_a_user_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\nsweep: {\n", encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "YAML" in str(info.value)


def test_bad_yaml_in_the_experiment_names_the_experiment(tmp_path: Path) -> None:
    path = write_pair(tmp_path)
    (tmp_path / "exp.yaml").write_text("model: {name_or_path: x\n", encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(tmp_path / "exp.yaml") in str(info.value)


def test_missing_sweep_file_is_a_user_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(UserError) as info:
        load_config(missing)
    assert str(missing) in str(info.value)


def test_missing_experiment_file_is_a_user_error_naming_it(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    sweep["experiment"] = "gone/exp.yaml"
    path = write_yaml(tmp_path / "sweep.yaml", sweep)
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str((tmp_path / "gone" / "exp.yaml").resolve()) in str(info.value)


def test_top_level_that_is_not_a_mapping_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(UserError, match="mapping") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_required_values_are_reported(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    del experiment["model"]
    sweep = copy.deepcopy(SWEEP)
    del sweep["name"]
    problems = problems_of(write_pair(tmp_path, experiment, sweep))
    assert problems_at(problems, "model.name_or_path"), problems
    assert problems_at(problems, "name"), problems
    assert all("required" in p for p in problems_at(problems, "model.name_or_path"))


def test_required_value_set_to_null_is_reported(tmp_path: Path) -> None:
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["model"] = {"name_or_path": None}
    problems = problems_of(write_pair(tmp_path, experiment))
    assert problems_at(problems, "model.name_or_path"), problems


def test_arm_without_pool_is_reported(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    sweep["sweep"]["arms"] = {"a": {}}
    problems = problems_of(write_pair(tmp_path, sweep=sweep))
    [problem] = problems_at(problems, "sweep.arms.a")
    assert "exactly one of pool" in problem and "mixture" in problem


# --- semantic checks ------------------------------------------------------------------------


def test_the_base_test_config_is_valid(tmp_path: Path) -> None:
    config = load_config(write_pair(tmp_path))
    assert config.name == "unit"
    assert config.sweep.sizes == [16, 32]


@pytest.mark.parametrize(
    ("overrides", "dotted", "fragment"),
    [
        (["sweep.sizes=[16,0]"], "sweep.sizes", "> 0"),
        (["sweep.sizes=[16,-4]"], "sweep.sizes", "> 0"),
        (["sweep.sizes=[16,32,16]"], "sweep.sizes", "repeated"),
        (["sweep.sizes=[]"], "sweep.sizes", "at least one"),
        (["sweep.seeds=[1,1]"], "sweep.seeds", "distinct"),
        (
            ["training.batch_size=10", "training.micro_batch_size=4"],
            "training.batch_size",
            "multiple",
        ),
        (["training.method=lorra"], "training.method", "Did you mean 'lora'?"),
        (["training.epochs=0"], "training.epochs", "> 0"),
        (["training.final_learning_rate=1.0"], "training.final_learning_rate", "between"),
        (["judge.backend=hff"], "judge.backend", "Did you mean 'hf'?"),
        (["judge.backend=nonesuch"], "judge.backend", "known: hf"),
        (["sweep.sizes=[16,500]"], "pools.synthetic.size", "500"),
        (["pools.synthetic.source=synthtic"], "pools.synthetic.source", "Did you mean"),
        (["pools.synthetic.source=jsonl"], "pools.synthetic.path", "needs the path"),
        (["generation.temperature=-0.1"], "generation.temperature", ">= 0"),
        (["evaluation.confidence=1.5"], "evaluation.confidence", "(0, 1)"),
        (["model.dtype=fp8"], "model.dtype", "not one of"),
        (["name=has space"], "name", "names folders"),
    ],
)
def test_semantic_problem_is_reported_at_its_path(
    tmp_path: Path, overrides: list[str], dotted: str, fragment: str
) -> None:
    problems = problems_of(write_pair(tmp_path), overrides)
    at_path = problems_at(problems, dotted)
    assert at_path, problems
    assert any(fragment in p for p in at_path), at_path


def test_sweep_without_arms_is_reported(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    del sweep["sweep"]["arms"]
    problems = problems_of(write_pair(tmp_path, sweep=sweep))
    assert any("at least one arm" in p for p in problems_at(problems, "sweep.arms")), problems


def test_jsonl_pool_whose_file_is_missing_is_reported_with_its_path(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    sweep["pools"] = {"file": {"source": "jsonl", "path": "data/missing.jsonl"}}
    sweep["sweep"]["arms"] = {"a": {"pool": "file"}}
    problems = problems_of(write_pair(tmp_path, sweep=sweep))
    at_path = problems_at(problems, "pools.file.path")
    assert at_path, problems
    assert str((tmp_path / "data" / "missing.jsonl").resolve()) in at_path[0]


def test_jsonl_pool_whose_file_exists_is_valid(tmp_path: Path) -> None:
    (tmp_path / "pool.jsonl").write_text('{"prompt": "p", "response": "r"}\n', "utf-8")
    sweep = copy.deepcopy(SWEEP)
    sweep["pools"] = {"file": {"source": "jsonl", "path": "pool.jsonl"}}
    sweep["sweep"]["arms"] = {"a": {"pool": "file"}}
    config = load_config(write_pair(tmp_path, sweep=sweep))
    assert config.pools["file"].path == str((tmp_path / "pool.jsonl").resolve())


def test_several_semantic_problems_are_reported_together(tmp_path: Path) -> None:
    problems = problems_of(
        write_pair(tmp_path),
        ["sweep.sizes=[16,16]", "training.method=lorra", "judge.backend=hff"],
    )
    for dotted in ("sweep.sizes", "training.method", "judge.backend"):
        assert problems_at(problems, dotted), (dotted, problems)


def test_synthetic_pool_that_no_arm_uses_does_not_limit_the_sizes(tmp_path: Path) -> None:
    # An experiment may hold pools that only some sweeps use; a small unused pool cannot
    # "fail to fill" a size no trial asks of it.
    experiment = copy.deepcopy(EXPERIMENT)
    experiment["pools"]["small"] = {"source": "synthetic", "size": 50, "seed": 1}
    sweep = copy.deepcopy(SWEEP)
    sweep["sweep"]["sizes"] = [100, 200]  # fits "synthetic" (200), not "small" (50)
    config = load_config(write_pair(tmp_path, experiment, sweep))
    assert config.sweep.sizes == [100, 200]


def test_the_quickstart_sweep_in_the_repo_validates() -> None:
    config = load_config(REPO / "sweeps" / "quickstart.yaml")
    assert config.name == "quickstart"
    assert config.experiment == str((REPO / "experiments" / "tiny.yaml").resolve())
    assert config.model.name_or_path == "builtin:tiny"
    assert list(config.sweep.arms) == ["synthetic"]
    assert config.sweep.sizes == [32, 64, 128, 256]
    assert config.training.method == "full"  # from the experiment, not the default "lora"


def test_the_tasks_sweep_in_the_repo_validates() -> None:
    # sweeps/tasks.yaml: the quantity sweep whose task accuracy rises (README "Task metrics").
    config = load_config(REPO / "sweeps" / "tasks.yaml")
    assert {a: v.pool for a, v in config.sweep.arms.items()} == {
        "addition": "addition",
        "synthetic": "synthetic",
    }
    assert (config.sweep.sizes, config.sweep.seeds) == ([128, 256, 512], [0, 1])
    assert config.pools["addition"].source == "addition"
    task = config.evaluation.tasks["addition"]
    assert (task.source, task.size, task.decoding) == ("addition", 100, "greedy")
    assert config.evaluation.measure_base and config.generation.samples_per_prompt >= 2
    assert "arithmetic" in config.evaluation.tasks  # the experiment's word problems stay


# --- shapes, ranges, duplicate keys (every problem at its dotted path) ----------------------


@pytest.mark.parametrize(
    ("override", "path", "expected"),
    [
        ("sweep.arms=[synthetic]", "sweep.arms", "expected a mapping"),
        ("pools=5", "pools", "expected a mapping"),
        ("evaluation=[x]", "evaluation", "expected a mapping"),
        ("sweep.sizes={a: 1}", "sweep.sizes", "expected a list, got a mapping"),
        ("training=3", "training", "expected a mapping"),
        ("sweep.arms.a=7", "sweep.arms.a", "expected a mapping"),
        ("training.lora.target_modules=x", "training.lora.target_modules", "expected a list"),
        ("training.epochs=[1, 2]", "training.epochs", "expected a single value"),
        ("training.group_by_length=maybe", "training.group_by_length", "not a valid bool"),
    ],
)
def test_a_wrong_shape_is_one_problem_at_its_path(
    tmp_path: Path, override: str, path: str, expected: str
) -> None:
    problems = problems_of(write_pair(tmp_path), [override])
    assert len(problems_at(problems, path)) == 1, problems
    assert expected in problems_at(problems, path)[0]


def test_wrong_shapes_in_a_file_name_the_file(tmp_path: Path) -> None:
    sweep = copy.deepcopy(SWEEP)
    sweep["sweep"]["arms"] = ["a"]
    path = write_pair(tmp_path, sweep=sweep)
    [problem] = problems_of(path)
    assert str(path) in problem and "sweep.arms: expected a mapping" in problem


@pytest.mark.parametrize("override", ["sweep.sizes=[8", "sweep.seeds={", "name=[a, {b"])
def test_an_override_that_is_not_yaml_names_the_override(tmp_path: Path, override: str) -> None:
    with pytest.raises(UserError) as info:
        load_config(write_pair(tmp_path), [override])
    assert f"'{override}'" in str(info.value) and "command line" in str(info.value)


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    write_yaml(tmp_path / "exp.yaml", EXPERIMENT)
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: unit\nexperiment: exp.yaml\nsweep:\n  arms: {a: {pool: synthetic}}\n"
        "  sizes: [16]\n  sizes: [32]\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "duplicate key 'sizes'" in message
    assert "line 5" in message and "line 6" in message


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ("sweep.seeds=[-1]", "sweep.seeds"),
        ("sweep.seeds=[4294967296]", "sweep.seeds"),
        ("pools.synthetic.seed=-3", "pools.synthetic.seed"),
        ("training.max_seq_length=4", "training.max_seq_length"),
        ("training.lora.r=0", "training.lora.r"),
        ("training.lora.dropout=1.0", "training.lora.dropout"),
        ("training.adam_beta2=1.0", "training.adam_beta2"),
        ("training.weight_decay=-0.1", "training.weight_decay"),
        ("generation.repetition_penalty=-1", "generation.repetition_penalty"),
        ("generation.top_p=2.0", "generation.top_p"),
        ("generation.top_p=0", "generation.top_p"),
        ("evaluation.bootstrap_resamples=0", "evaluation.bootstrap_resamples"),
        ("evaluation.confidence=1.5", "evaluation.confidence"),
        ("resources.max_retries=-1", "resources.max_retries"),
        ("resources.max_concurrent_trials=-2", "resources.max_concurrent_trials"),
        ("judge.max_input_tokens=10", "judge.max_input_tokens"),
        ("model.dtype=float16", "model.dtype"),  # float16 training needs a GPU
    ],
)
def test_every_range_is_checked_at_load(tmp_path: Path, override: str, path: str) -> None:
    problems = problems_of(write_pair(tmp_path), [override])
    assert problems_at(problems, path), problems


def test_openai_judge_ranges(tmp_path: Path) -> None:
    overrides = [
        "judge.backend=openai",
        "judge.base_url=http://127.0.0.1:9/v1",
        "judge.top_logprobs=50",
        "judge.temperature=3",
        "judge.requests_per_minute=0",
        "judge.price_prompt_per_million=-1",
    ]
    problems = problems_of(write_pair(tmp_path), overrides)
    for path in ("judge.top_logprobs", "judge.temperature", "judge.requests_per_minute"):
        assert problems_at(problems, path), (path, problems)
    assert problems_at(problems, "judge.price_prompt_per_million"), problems


def test_a_data_only_config_needs_no_model_or_judge(tmp_path: Path) -> None:
    experiment = {"pools": {"synthetic": {"source": "synthetic", "size": 20}}}
    path = write_yaml(tmp_path / "pools.yaml", experiment)
    config = load_config(path, require_sweep=False)
    assert list(config.pools) == ["synthetic"]
    bad = write_yaml(tmp_path / "bad.yaml", {"pools": {"s": {"source": "synthetic", "size": 0}}})
    problems = problems_of_data(bad)
    assert problems_at(problems, "pools.s.size"), problems


def problems_of_data(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, require_sweep=False)
    return info.value.problems
