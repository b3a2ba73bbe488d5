"""Sweep -> trials (pure: no I/O, no clock, no randomness).

Each stage has a key that hashes the settings that change its output plus the key of the stage
before it, so a changed judge changes only the judge and score keys: resume then re-runs only
judging (CONTRIBUTING.md, principle 4). The trial id is the last key, so it covers everything
that changes the trial's result and nothing else: resources, retries, paths and memory-only settings
(micro-batch size, gradient checkpointing, judge batch size) are left out (principle 3).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ablate.config.arms import apply_overrides, variants
from ablate.config.schema import Config
from ablate.files import stable_hash

STAGES = ("select", "train", "generate", "judge", "score")  # the key chain, in order
JUDGED_STAGES = ("judge", "score")  # per judge: another judge's results sit beside


@dataclass(frozen=True)
class CodeVersions:
    """The versions of the code whose output a config's trials depend on. The caller hands them
    in (ablate.stages.code_versions), so planning stays pure and imports no component."""

    stages: Mapping[str, int]  # the stage table's versions
    chat_template: int
    judge_parser: int
    judge_rubric: Any  # the judge mode's rubric or template version
    model_build: Any  # a builtin model's build version; None for a hub or local model
    judge_build: Any


Versions = Callable[[Config], CodeVersions]  # a config -> the code versions its trials use
# Judge settings that change how judging runs or is labelled, never a verdict.
JUDGE_RUNTIME_SETTINGS = (
    "name",
    "batch_size",
    "api_key_env",
    "max_concurrency",
    "requests_per_minute",
    "timeout_s",
    "max_retries",
    "price_prompt_per_million",
    "price_completion_per_million",
    "cache_path",
    "template",
    "reference_file",  # their content enters through judge_fingerprint
)


@dataclass(frozen=True)
class Trial:
    arm: str
    pool: str
    n_examples: int
    seed: int
    stage_keys: dict[str, str]
    judge_name: str = "default"  # judge/<name>/ and score/<name>/ in the trial's folder
    # pool -> weight of the arm's data (one pool: weight 1); None: {pool: 1.0}
    data: dict[str, float] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # the arm's (and grid's) settings
    family: str = ""  # its grid point: arms are compared within one
    # A search's trial (ablate.search): {"role": "search" | "confirm", "params": the
    # sampler's own parameters, "values": the readable setting -> value}; None in a grid.
    search: dict[str, Any] | None = None

    @property
    def weights(self) -> dict[str, float]:
        return self.data if self.data else {self.pool: 1.0}

    @property
    def trial_id(self) -> str:
        return self.stage_keys["score"]

    @property
    def folder(self) -> str:
        """Readable and unique within a sweep; the stage keys say whether contents are current."""
        return f"{self.arm}-n{self.n_examples}-s{self.seed}"


# Settings added after results existed: keyed only when set, so that upgrading ablate keeps
# the ids (and the done stages) of sweeps that never used them.
KEYED_WHEN_SET = ("pairwise_samples_per_prompt", "residual_dropout")


# Training settings that change memory and speed, not what is learned: outside the keys.
NOT_KEYED_TRAINING = (
    "micro_batch_size",
    "gradient_checkpointing",
    "packing",
    "group_by_length",  # each optimizer step holds the same examples, split differently
    "checkpoint_every",
    "attn_implementation",
)


def _without(section: Any, *memory_only: str) -> dict[str, Any]:
    values = asdict(section)
    for key in memory_only:
        values.pop(key)
    for key in KEYED_WHEN_SET:
        if key in values and values[key] is None:
            values.pop(key)
    return values


# Where a task's problems sit is not what they are: their content enters the generate key
# through the evaluation fingerprint (ablate.data.pools.fingerprints, given the tasks).
NOT_KEYED_TASK = ("path", "dataset")


def task_settings(config: Config) -> dict[str, Any]:
    """Each task's settings that change its rows (its name too: it names the metrics)."""
    return {
        name: {k: v for k, v in asdict(task).items() if k not in NOT_KEYED_TASK}
        for name, task in config.evaluation.tasks.items()
    }


def dialogue_settings(config: Config) -> dict[str, Any]:
    """evaluation.dialogues' settings that change its rows; where the file sits does not: its
    content enters through the evaluation fingerprint (ablate.data.pools.fingerprints)."""
    dialogues = config.evaluation.dialogues
    return {} if dialogues is None else {k: v for k, v in asdict(dialogues).items() if k != "path"}


def data_fingerprint(weights: dict[str, float], pool_fingerprints: dict[str, str]) -> Any:
    """What a trial's data is: one pool's fingerprint (as before mixtures existed, so old
    trials keep their ids), or each pool's fingerprint with its weight (names do not matter)."""
    if len(weights) == 1:
        return pool_fingerprints[next(iter(weights))]
    return ["mixture", sorted((pool_fingerprints[p], round(w, 12)) for p, w in weights.items())]


def stage_keys(
    config: Config,
    data: Any,
    eval_fingerprint: str,
    n: int,
    seed: int,
    code: CodeVersions,
    judge_fingerprint: str = "",
) -> dict[str, str]:
    """config: the trial's resolved config (its arm's overrides in place); data: its
    data_fingerprint."""
    v = code.stages
    keys = {"select": stable_hash([v["select"], data, n, seed])}
    training = _without(config.training, *NOT_KEYED_TRAINING)
    if config.training.method != "lora":
        training.pop("lora")  # LoRA settings do not touch a full fine-tune
    model = [asdict(config.model), code.model_build]
    keys["train"] = stable_hash([[v["train"], code.chat_template], keys["select"], model, training])
    evaluation: list[Any] = [eval_fingerprint, config.evaluation.max_prompts]
    if config.evaluation.tasks:  # keyed only when set: sweeps without tasks keep their ids
        evaluation.append(task_settings(config))
    if config.evaluation.dialogues is not None:  # keyed only when set, as tasks are
        evaluation.append(["dialogues", dialogue_settings(config)])
    generation = asdict(config.generation)
    keys["generate"] = stable_hash([v["generate"], keys["train"], generation, evaluation])
    keys |= judge_keys(config, keys["generate"], code, judge_fingerprint, None)
    return keys


def judge_keys(
    config: Config,
    generate_key: str,
    code: CodeVersions,
    judge_fingerprint: str,
    reference_key: str | None,
) -> dict[str, str]:
    """Judge and score keys; reference_key is the reference arm's generate key (pairwise)."""
    v = code.stages
    judge = [_without(config.judge, *JUDGE_RUNTIME_SETTINGS), code.judge_build]
    versions = [v["judge"], code.judge_rubric, code.judge_parser]
    judge_key = stable_hash([versions, generate_key, judge, judge_fingerprint, reference_key])
    prices = [config.judge.price_prompt_per_million, config.judge.price_completion_per_million]
    score = [config.evaluation.confidence, config.evaluation.bootstrap_resamples, prices]
    return {"judge": judge_key, "score": stable_hash([v["score"], judge_key, score])}


def judge_settings_hash(config: Config, code: CodeVersions) -> str:
    """Six hex digits over the judge's result-relevant settings (not the data it judges)."""
    judge = _without(config.judge, *JUDGE_RUNTIME_SETTINGS)
    return stable_hash([judge, code.judge_rubric, code.judge_parser])[:6]


def judge_name(config: Config, code: CodeVersions) -> str:
    """The judge's folder name: judge.name, else "<mode>-<model>-<settings hash>" (e.g.
    likert-gpt-4o-mini-3fa2c1), so a judge with other settings never lands in the same folder."""
    if config.judge.name:
        return config.judge.name
    model = config.judge.model.rstrip("/")
    if model.startswith("/"):  # a local folder: its last part names it
        model = model.split("/")[-1]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-").lower() or "judge"
    return f"{config.judge.mode}-{slug}-{judge_settings_hash(config, code)}"


def plan_trials(
    config: Config,
    pool_fingerprints: dict[str, str],
    eval_fingerprint: str,
    versions: Versions,
    judge_fingerprint: str = "",
) -> list[Trial]:
    """One trial per (variant, size, seed), in that nesting order; a variant is an arm at a
    grid point (ablate.config.arms). Each trial is keyed with its resolved config, so two arms
    that differ only in one setting are two trials, and a renamed arm with the same settings is
    the same trial.

    judge_fingerprint: the content of the judge's template and reference files. A pairwise
    judge against another arm also depends on that arm's generations at the same size, seed
    and grid point, so their generate key enters the judge key."""
    cells = {}
    for variant in variants(config):
        resolved = apply_overrides(config, variant.overrides)
        code = versions(resolved)
        data = data_fingerprint(variant.data, pool_fingerprints)
        for n in config.sweep.sizes:
            for seed in config.sweep.seeds:
                keys = stage_keys(
                    resolved, data, eval_fingerprint, n, seed, code, judge_fingerprint
                )
                cells[(variant.arm, variant.family, n, seed)] = (variant, resolved, code, keys)
    reference = config.judge.reference_arm  # only a paired mode takes one (validated)
    trials = []
    for (_, family, n, seed), (variant, resolved, code, keys) in cells.items():
        if reference is not None:
            ref_generate = cells[(reference, family, n, seed)][3]["generate"]
            keys |= judge_keys(resolved, keys["generate"], code, judge_fingerprint, ref_generate)
        data = variant.data if len(variant.data) > 1 else None
        trials.append(
            Trial(
                variant.name,
                variant.pool_label,
                n,
                seed,
                keys,
                judge_name(resolved, code),
                data,
                variant.overrides,
                family,
            )
        )
    return trials


def resolved_config(config: Config, trial: Trial) -> Config:
    """The config a trial runs with: the sweep's, with its arm's settings in place."""
    return apply_overrides(config, trial.overrides)


def rejudged_trials(
    config: Config, saved: list[Trial], judge_fingerprint: str, versions: Versions
) -> list[Trial]:
    """A finished plan's trials under another judge: the saved select/train/generate keys are
    kept (so judging needs neither the raw data nor the training settings again), only the
    judge and score keys and the judge's name are new."""
    by_cell = {(t.arm, t.n_examples, t.seed): t for t in saved}
    reference = config.judge.reference_arm
    trials = []
    for t in saved:
        resolved = resolved_config(config, t)
        code = versions(resolved)
        generate = t.stage_keys["generate"]
        ref = None
        if reference:
            ref_arm = f"{reference}-{t.family}" if t.family else reference
            ref = by_cell[(ref_arm, t.n_examples, t.seed)].stage_keys["generate"]
        keys = t.stage_keys | judge_keys(resolved, generate, code, judge_fingerprint, ref)
        trials.append(
            dataclasses.replace(t, stage_keys=keys, judge_name=judge_name(resolved, code))
        )
    return trials


def plan_id(trials: list[Trial]) -> str:
    """Identifies the whole plan: the same sweep settings give the same id."""
    return stable_hash(sorted(t.trial_id for t in trials))


def duplicate_arms(trials: list[Trial]) -> list[tuple[str, str]]:
    """Arms whose trials are identical (same data and settings): running both is waste."""
    seen: dict[str, str] = {}
    pairs = []
    for trial in trials:
        other = seen.setdefault(trial.trial_id, trial.arm)
        if other != trial.arm:
            pairs.append((other, trial.arm))
    return sorted(set(pairs))
