"""Checks a type cannot express: names that must exist, ranges, and cross-field rules.

Each check returns problems (dotted path first) instead of raising, so the user sees all of
them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf.errors import OmegaConfBaseException

from ablate.config.arms import (
    ARM_SECTIONS,
    apply_overrides,
    counts,
    flat,
    grid_points,
    variants,
)
from ablate.config.dialogues import dialogue_problems
from ablate.config.schema import ArmConfig, Config, LoraSettings, checkpoint_interval
from ablate.config.search import search_problems
from ablate.config.tasks import task_problems
from ablate.registry import suggest

# (config, whole sweep or pools only) -> problems only the plug-ins know about.
PluginChecks = Callable[[Config, bool], list[str]]

TRAINING_METHODS = ["full", "lora"]
DTYPES = ["auto", "bfloat16", "float16", "float32"]


# transformers' attention kernels by name (a "<org>/<repo>" hub kernel is passed through).
ATTENTION = ["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"]


def _choice(path: str, value: str, choices: list[str]) -> list[str]:
    if value in choices:
        return []
    return [f"{path}: '{value}' is not one of {choices}.{suggest(value, choices)}"]


def _positive(path: str, value: float) -> list[str]:
    return [] if value > 0 else [f"{path}: must be > 0, got {value}"]


def _at_least(path: str, value: float, low: float) -> list[str]:
    return [] if value >= low else [f"{path}: must be >= {low}, got {value}"]


def _within(path: str, value: float, interval: str) -> list[str]:
    """value in an interval written as in mathematics: '[0, 1)', '(0, 1]', '[0, 2]'..."""
    low_s, high_s = interval[1:-1].split(",")
    low, high = float(low_s), float(high_s)
    above = value >= low if interval[0] == "[" else value > low
    below = value <= high if interval[-1] == "]" else value < high
    return [] if above and below else [f"{path}: must be in {interval}, got {value}"]


# numpy's and torch's generators take seeds in [0, 2**32); a seed outside fails in a worker.
SEED_LIMIT = 2**32
# The chat markers of one exchange alone take about 6 tokens; below this no response fits.
MIN_SEQ_LENGTH = 16


def _folder_name_problems(path: str, name: str, what: str) -> list[str]:
    """Names that become folder names (results/<name>, trials/<arm>-n<size>-s<seed>) and
    MLflow keys: letters, digits, '-' and '_' only, so no name can climb out of its folder."""
    if name and name.replace("-", "").replace("_", "").isalnum():
        return []
    return [f"{path}: '{name}' must be letters, digits, '-' or '_' ({what} names folders)"]


def _seed_problems(path: str, seeds: list[int]) -> list[str]:
    return [
        f"{path}: seed {s} is outside [0, 2**32), the range numpy and torch accept"
        for s in seeds
        if not 0 <= s < SEED_LIMIT
    ]


def _arm_data_problems(config: Config, name: str, arm: ArmConfig) -> list[str]:
    where = f"sweep.arms.{name}"
    given = [bool(arm.pool), bool(arm.data.pool), bool(arm.data.mixture)]
    if sum(given) != 1:
        return [
            f"{where}: give its data as exactly one of pool: <name>, data: {{pool: <name>}} or "
            "data: {mixture: {<pool>: <weight>, ...}}"
        ]
    known, problems = sorted(config.pools), []
    for pool, weight in (arm.data.mixture or {(arm.pool or arm.data.pool or ""): 1.0}).items():
        path = f"{where}.data.mixture.{pool}" if arm.data.mixture else f"{where}.pool"
        if pool not in config.pools:
            problems.append(f"{path}: no pool '{pool}' in pools {known}.{suggest(pool, known)}")
        elif not weight > 0:
            problems.append(f"{path}: a mixture weight must be > 0, got {weight}")
    return problems


def _setting_problems(config: Config, where: str, settings: dict[str, Any]) -> list[str]:
    """An arm's overrides or the grid: only model/training/generation, each of the right type
    and in range (checked on the config they make)."""
    problems = [
        f"{where}.{key}: an arm may vary {', '.join(f'{s}.*' for s in ARM_SECTIONS)}; the "
        "judge, the evaluation and the rest stay the sweep's so that arms are comparable"
        for key in settings
        if key.split(".")[0] not in ARM_SECTIONS
    ]
    if problems:
        return problems
    try:
        resolved = apply_overrides(config, settings)
    except (OmegaConfBaseException, TypeError, ValueError) as exc:
        return [f"{where}: {str(exc).splitlines()[0]}"]

    def own(c: Config) -> list[str]:
        return (
            training_problems(c)
            + generation_problems(c)
            + _choice("model.dtype", c.model.dtype, DTYPES)
        )

    # Only what the arm's settings cause: the sweep's own problems are reported once, at their path.
    inherited = set(own(config))
    return [f"{where}: {p}" for p in own(resolved) if p not in inherited]


def _grid_problems(config: Config) -> list[str]:
    grid = flat(dict(config.sweep.grid))
    bad = [k for k, values in grid.items() if not isinstance(values, list) or not values]
    problems = [f"sweep.grid.{k}: give a non-empty list of values" for k in bad]
    if bad:
        return problems
    for point in grid_points(config):
        problems += _setting_problems(config, "sweep.grid", point)
    return sorted(set(problems))


def _size_problems(config: Config) -> list[str]:
    sweep, problems = config.sweep, []
    if not sweep.sizes:
        return ["sweep.sizes: at least one size is needed"]
    problems += [f"sweep.sizes: sizes must be > 0, got {s}" for s in sweep.sizes if s <= 0]
    if len(set(sweep.sizes)) != len(sweep.sizes):
        problems.append(f"sweep.sizes: repeated sizes in {sweep.sizes}")
    largest = max(sweep.sizes)
    for name, need in pool_needs(config, largest).items():
        size = config.pools[name].size
        if size is not None and need > size:
            problems.append(f"pools.{name}.size: {size} records cannot fill the {need} needed")
    return problems


def pool_needs(config: Config, n: int) -> dict[str, int]:
    """pool -> the most records an arm takes from it at size n (a mixture takes its share;
    a searched mixture may give any of its pools every example)."""
    needs: dict[str, int] = {}
    if config.search is not None and config.search.mixture:
        return {pool: n for pool in config.search.mixture if pool in config.pools}
    for variant in variants(config):
        if not variant.data or any(pool not in config.pools for pool in variant.data):
            continue
        for pool, count in counts(variant.data, n).items():
            needs[pool] = max(needs.get(pool, 0), count)
    return needs


def sweep_problems(config: Config) -> list[str]:
    sweep = config.sweep
    needs_arm = not sweep.arms and config.search is None
    problems = ["sweep.arms: at least one arm is needed"] if needs_arm else []
    for name, arm in sweep.arms.items():
        problems += _folder_name_problems(f"sweep.arms.{name}", str(name), "an arm name")
        problems += _arm_data_problems(config, name, arm)
        problems += _setting_problems(config, f"sweep.arms.{name}.overrides", flat(arm.overrides))
    problems += _grid_problems(config)
    problems += _size_problems(config)
    if not sweep.seeds or len(set(sweep.seeds)) != len(sweep.seeds):
        problems.append(f"sweep.seeds: need distinct seeds, got {sweep.seeds}")
    problems += _seed_problems("sweep.seeds", sweep.seeds)
    return problems


def training_problems(config: Config) -> list[str]:
    t = config.training
    problems = _choice("training.method", t.method, TRAINING_METHODS)
    for key in ("epochs", "learning_rate", "batch_size", "micro_batch_size", "max_seq_length"):
        problems += _positive(f"training.{key}", getattr(t, key))
    if t.final_learning_rate < 0 or t.final_learning_rate > t.learning_rate:
        problems.append(
            "training.final_learning_rate: must be between 0 and training.learning_rate"
        )
    if t.micro_batch_size > 0 and t.batch_size % t.micro_batch_size:
        problems.append(
            f"training.batch_size: {t.batch_size} is not a multiple of "
            f"training.micro_batch_size {t.micro_batch_size}"
        )
    if 0 < t.max_seq_length < MIN_SEQ_LENGTH:
        problems.append(
            f"training.max_seq_length: {t.max_seq_length} tokens cannot hold a prompt, a "
            f"response and the chat markers; use at least {MIN_SEQ_LENGTH}"
        )
    problems += _within("training.adam_beta1", t.adam_beta1, "[0, 1)")
    problems += _within("training.adam_beta2", t.adam_beta2, "[0, 1)")
    problems += _at_least("training.weight_decay", t.weight_decay, 0)
    problems += _at_least("training.warmup_steps", t.warmup_steps, 0)
    if t.method == "lora":
        problems += _lora_problems(t.lora)
    if t.checkpoint_every is not None and checkpoint_interval(t.checkpoint_every) is None:
        problems.append(
            f"training.checkpoint_every: '{t.checkpoint_every}' is not '<N> epochs' or "
            "'<N> steps' (N >= 1); null turns checkpoints off"
        )
    if t.attn_implementation is not None and "/" not in t.attn_implementation:  # "/": a hub kernel
        problems += _choice("training.attn_implementation", t.attn_implementation, ATTENTION)
    if t.residual_dropout is not None:
        for end in ("bottom", "top"):
            rate = getattr(t.residual_dropout, end)
            problems += _within(f"training.residual_dropout.{end}", rate, "[0, 1)")
    return problems


def _lora_problems(lora: LoraSettings) -> list[str]:
    problems = _at_least("training.lora.r", lora.r, 1)
    problems += _positive("training.lora.alpha", lora.alpha)
    problems += _within("training.lora.dropout", lora.dropout, "[0, 1)")
    if not lora.target_modules:
        problems.append("training.lora.target_modules: name at least one module, or all-linear")
    return problems


GENERATION_BACKENDS = ["hf", "vllm"]


def _installed(package: str) -> bool:
    """Looked up, not imported: importing vLLM takes seconds and initialises CUDA."""
    import importlib.util
    import sys

    if package in sys.modules:  # already imported (None: marked absent)
        return sys.modules[package] is not None
    return importlib.util.find_spec(package) is not None


def _vllm_problems(config: Config) -> list[str]:
    """vLLM must be installed here and get a whole GPU: found now, not after training."""
    problems = []
    if not _installed("vllm"):
        problems.append(
            "generation.backend: 'vllm' needs the vllm package, not installed in this "
            'environment: pip install -e ".[vllm]" here and on every machine that runs '
            "trials, or set generation.backend=hf"
        )
    # vLLM reserves most of a GPU's memory for its cache: trials sharing a GPU would not fit.
    if config.resources.gpus_per_trial < 1:
        problems.append(
            "generation.backend: 'vllm' runs on a whole GPU per trial; set "
            f"resources.gpus_per_trial >= 1 (got {config.resources.gpus_per_trial}), or "
            "generation.backend=hf"
        )
    return problems


def generation_problems(config: Config) -> list[str]:
    g = config.generation
    problems: list[str] = []
    for key in ("samples_per_prompt", "max_new_tokens", "batch_size"):
        problems += _positive(f"generation.{key}", getattr(g, key))
    problems += _at_least("generation.temperature", g.temperature, 0)
    problems += _within("generation.top_p", g.top_p, "(0, 1]")
    problems += _positive("generation.repetition_penalty", g.repetition_penalty)
    problems += _choice("generation.backend", g.backend, GENERATION_BACKENDS)
    if g.backend == "vllm":
        problems += _vllm_problems(config)
    return problems


def analysis_problems(config: Config) -> list[str]:
    a = config.analysis
    problems = _positive("analysis.equivalence_margin", a.equivalence_margin)
    if a.baseline_arm is not None and a.baseline_arm not in config.sweep.arms:
        arms = sorted(config.sweep.arms)
        problems.append(
            f"analysis.baseline_arm: no arm '{a.baseline_arm}' in {arms}."
            f"{suggest(a.baseline_arm, arms)}"
        )
    return problems


def runtime_problems(config: Config) -> list[str]:
    r, e = config.resources, config.evaluation
    problems = _choice("model.dtype", config.model.dtype, DTYPES)
    problems += _within("evaluation.confidence", e.confidence, "(0, 1)")
    # Fewer resamples make the BCa interval's ends mostly noise (and scipy needs 2 at least).
    problems += _at_least("evaluation.bootstrap_resamples", e.bootstrap_resamples, 100)
    if e.max_prompts is not None:
        problems += _positive("evaluation.max_prompts", e.max_prompts)
    problems += _positive("resources.cpus_per_trial", r.cpus_per_trial)
    problems += _at_least("resources.gpus_per_trial", r.gpus_per_trial, 0)
    problems += _at_least("resources.max_retries", r.max_retries, 0)
    problems += _at_least("resources.max_concurrent_trials", r.max_concurrent_trials, 0)
    if config.model.dtype == "float16" and r.gpus_per_trial == 0:
        problems.append(
            "model.dtype: float16 training (mixed precision) needs a GPU "
            "(resources.gpus_per_trial > 0); on CPUs use bfloat16 or float32"
        )
    problems += _folder_name_problems("name", config.name, "the sweep's name")
    return problems


def _seeds_of_pools(config: Config) -> list[str]:
    pools = [(f"pools.{name}", pool) for name, pool in config.pools.items()]
    pools.append(("evaluation.prompts", config.evaluation.prompts))
    return [p for path, pool in pools for p in _seed_problems(f"{path}.seed", [pool.seed])]


def semantic_problems(
    config: Config, require_sweep: bool = True, plugins: PluginChecks | None = None
) -> list[str]:
    """Every problem of a sweep; only the pools' when require_sweep is False (data prepare).

    `plugins` adds what the plug-ins know (a pool source's paths, a judge backend's settings):
    config sits below them and cannot import them, so the caller hands their checks in."""
    problems = _seeds_of_pools(config)
    if require_sweep:
        problems += sweep_problems(config)
        problems += training_problems(config)
        problems += generation_problems(config)
        problems += analysis_problems(config)
        problems += search_problems(config, _setting_problems)
        problems += task_problems(config)
        problems += dialogue_problems(config)
        problems += runtime_problems(config)
    return problems + (plugins(config, require_sweep) if plugins else [])
