"""Checks a type cannot express: names that must exist, ranges, and cross-field rules.

Each check returns problems (dotted path first) instead of raising, so the user sees all of
them at once.
"""

from __future__ import annotations

from pathlib import Path

from ablate.config.schema import Config, JudgeConfig, LoraSettings, PoolConfig
from ablate.data.sources import POOL_SOURCES
from ablate.judge.backends import JUDGE_BACKENDS, JUDGE_MODES
from ablate.registry import suggest

TRAINING_METHODS = ["full", "lora"]
DTYPES = ["auto", "bfloat16", "float16", "float32"]


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


# source -> what its `path` must be ("file" or "folder"); hf reads `dataset` instead.
PATH_KINDS = {"jsonl": "file", "wikihow": "file", "lima": "file", "stackexchange": "folder"}
# Downloads a user fetches separately (dumps, exports): a config may name them before they
# exist, so `validate` and `plan` warn and `run` / `data prepare` stop before any trial.
EXTERNAL_SOURCES = ("stackexchange", "wikihow", "lima")


def _missing_data(path: str, pool: PoolConfig) -> str | None:
    kind = PATH_KINDS[pool.source]
    exists = Path(pool.path or "").is_file() if kind == "file" else Path(pool.path or "").is_dir()
    return None if exists else f"{path}.path: no such {kind} {pool.path}"


def _path_problems(path: str, pool: PoolConfig) -> list[str]:
    if not pool.path:
        return [
            f"{path}.path: a {pool.source} pool needs the path of its {PATH_KINDS[pool.source]}"
        ]
    missing = _missing_data(path, pool)
    return [missing] if missing and pool.source not in EXTERNAL_SOURCES else []


def data_warnings(config: Config) -> list[str]:
    """External data a config names that is not there yet (fine to validate, not to run)."""
    used = {arm.pool for arm in config.sweep.arms.values()} or set(config.pools)
    pools = [(f"pools.{name}", pool) for name, pool in config.pools.items() if name in used]
    pools.append(("evaluation.prompts", config.evaluation.prompts))
    warnings = []
    for path, pool in pools:
        if pool.source in EXTERNAL_SOURCES and pool.path:
            missing = _missing_data(path, pool)
            warnings += (
                [f"{missing}: fetch the data before running (see data/README.md)"]
                if missing
                else []
            )
    return warnings


def _sampling_problems(path: str, pool: PoolConfig) -> list[str]:
    problems = _choice(f"{path}.prompt_from", pool.prompt_from, ["body", "random", "title"])
    problems += _positive(f"{path}.sampling.temperature", pool.sampling.temperature)
    f = pool.filters
    if f.min_answer_chars > f.max_answer_chars:
        problems.append(f"{path}.filters.min_answer_chars: larger than max_answer_chars")
    return problems


def pool_problems(path: str, pool: PoolConfig) -> list[str]:
    problem = POOL_SOURCES.problem(pool.source)
    if problem:
        return [f"{path}.source: {problem}"]
    problems = _path_problems(path, pool) if pool.source in PATH_KINDS else []
    if pool.source == "hf" and not pool.dataset:
        problems.append(f"{path}.dataset: an hf pool needs a dataset name or saved folder")
    if pool.source == "synthetic":
        problems += _positive(f"{path}.size", pool.size or 0)
    elif pool.size is not None:
        problems += _positive(f"{path}.size", pool.size)
    if pool.source == "stackexchange":
        problems += _sampling_problems(path, pool)
    problems += _seed_problems(f"{path}.seed", [pool.seed])
    return problems


def sweep_problems(config: Config) -> list[str]:
    sweep = config.sweep
    problems = [] if sweep.arms else ["sweep.arms: at least one arm is needed"]
    for arm_name, arm in sweep.arms.items():
        problems += _folder_name_problems(f"sweep.arms.{arm_name}", str(arm_name), "an arm name")
        if arm.pool not in config.pools:
            known = sorted(config.pools)
            hint = suggest(arm.pool, known)
            problems.append(
                f"sweep.arms.{arm_name}.pool: no pool '{arm.pool}' in pools {known}.{hint}"
            )
    if not sweep.sizes:
        problems.append("sweep.sizes: at least one size is needed")
    problems += [f"sweep.sizes: sizes must be > 0, got {s}" for s in sweep.sizes if s <= 0]
    if len(set(sweep.sizes)) != len(sweep.sizes):
        problems.append(f"sweep.sizes: repeated sizes in {sweep.sizes}")
    if not sweep.seeds or len(set(sweep.seeds)) != len(sweep.seeds):
        problems.append(f"sweep.seeds: need distinct seeds, got {sweep.seeds}")
    problems += _seed_problems("sweep.seeds", sweep.seeds)
    used = {arm.pool for arm in sweep.arms.values()}
    for name, pool in config.pools.items():
        if name not in used:
            continue
        if pool.size is not None and sweep.sizes and max(sweep.sizes) > pool.size:
            problems.append(
                f"pools.{name}.size: {pool.size} records cannot fill sweep size {max(sweep.sizes)}"
            )
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
    return problems


def _lora_problems(lora: LoraSettings) -> list[str]:
    problems = _at_least("training.lora.r", lora.r, 1)
    problems += _positive("training.lora.alpha", lora.alpha)
    problems += _within("training.lora.dropout", lora.dropout, "[0, 1)")
    if not lora.target_modules:
        problems.append("training.lora.target_modules: name at least one module, or all-linear")
    return problems


def generation_problems(config: Config) -> list[str]:
    g = config.generation
    problems: list[str] = []
    for key in ("samples_per_prompt", "max_new_tokens", "batch_size"):
        problems += _positive(f"generation.{key}", getattr(g, key))
    problems += _at_least("generation.temperature", g.temperature, 0)
    problems += _within("generation.top_p", g.top_p, "(0, 1]")
    problems += _positive("generation.repetition_penalty", g.repetition_penalty)
    return problems


def _judge_backend_problems(j: JudgeConfig) -> list[str]:
    if j.backend == "hf":
        problems = (
            []
            if j.mode == "likert"
            else [f"judge.mode: the hf judge grades likert only; use backend openai for '{j.mode}'"]
        )
        if j.template:
            problems.append(
                "judge.template: rubric files apply to the openai backend; the hf judge scores "
                "the built-in likert rubric from its level-token probabilities"
            )
        problems += _positive("judge.batch_size", j.batch_size)
        problems += _at_least("judge.max_input_tokens", j.max_input_tokens, 256)
        problems += _choice("judge.dtype", j.dtype, DTYPES)
        if not 0 <= j.min_level_mass < 1:
            problems.append(f"judge.min_level_mass: must be in [0, 1), got {j.min_level_mass}")
        return problems
    problems = (
        []
        if j.base_url
        else [
            "judge.base_url: the openai backend needs the endpoint, e.g. https://api.openai.com/v1"
        ]
    )
    for key in ("max_concurrency", "timeout_s", "max_tokens"):
        problems += _positive(f"judge.{key}", getattr(j, key))
    problems += _at_least("judge.max_retries", j.max_retries, 0)
    if j.pairwise_samples_per_prompt is not None:
        problems += _at_least("judge.pairwise_samples_per_prompt", j.pairwise_samples_per_prompt, 1)
    problems += _within("judge.temperature", j.temperature, "[0, 2]")
    if j.requests_per_minute is not None:
        problems += _positive("judge.requests_per_minute", j.requests_per_minute)
    if j.top_logprobs is not None:  # OpenAI's API allows 0-20 alternatives per position
        problems += _within("judge.top_logprobs", j.top_logprobs, "[0, 20]")
    for key in ("price_prompt_per_million", "price_completion_per_million"):
        value = getattr(j, key)
        problems += [] if value is None else _at_least(f"judge.{key}", value, 0)
    return problems


def _judge_reference_problems(config: Config) -> list[str]:
    j = config.judge
    if j.mode != "pairwise":
        return []
    if bool(j.reference_arm) == bool(j.reference_file):
        return [
            "judge.reference_arm: pairwise needs exactly one of reference_arm "
            "(another arm of the sweep) or reference_file (baseline responses)"
        ]
    if j.reference_arm and j.reference_arm not in config.sweep.arms:
        arms = sorted(config.sweep.arms)
        return [
            f"judge.reference_arm: no arm '{j.reference_arm}' in {arms}."
            f"{suggest(j.reference_arm, arms)}"
        ]
    if j.reference_file and not Path(j.reference_file).is_file():
        return [f"judge.reference_file: no such file {j.reference_file}"]
    return []


def judge_problems(config: Config) -> list[str]:
    j = config.judge
    backend_problem = JUDGE_BACKENDS.problem(j.backend)
    if backend_problem:
        return [f"judge.backend: {backend_problem}"]
    problems = _choice("judge.mode", j.mode, JUDGE_MODES)
    problems += _judge_backend_problems(j)
    problems += _judge_reference_problems(config)
    if j.template and not Path(j.template).is_file():
        problems.append(f"judge.template: no such file {j.template}")
    if (
        j.name is not None
        and not j.name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        problems.append(f"judge.name: '{j.name}' must be letters, digits, '-', '_' or '.'")
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


def semantic_problems(config: Config, require_sweep: bool = True) -> list[str]:
    """Every problem of a sweep; only the pools' when require_sweep is False (data prepare)."""
    problems = [
        p for name, pool in config.pools.items() for p in pool_problems(f"pools.{name}", pool)
    ]
    if not require_sweep:
        return problems
    problems += pool_problems("evaluation.prompts", config.evaluation.prompts)
    problems += sweep_problems(config)
    problems += training_problems(config)
    problems += generation_problems(config)
    problems += judge_problems(config)
    problems += analysis_problems(config)
    problems += runtime_problems(config)
    return problems
