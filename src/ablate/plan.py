"""Sweep -> trials (pure: no I/O, no clock, no randomness).

Each stage has a key that hashes the settings that change its output plus the key of the stage
before it, so a changed judge changes only the judge and score keys: resume then re-runs only
judging (principle 4). The trial id is the last key, so it covers everything that changes the
trial's result and nothing else: resources, retries, paths and memory-only settings
(micro-batch size, gradient checkpointing, judge batch size) are left out (principle 3).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from ablate.chat import TEMPLATE_VERSION as CHAT_TEMPLATE_VERSION
from ablate.config.schema import Config
from ablate.judge.rubric import rubric_version
from ablate.models.tiny import builtin_version

STAGES = ("select", "train", "generate", "judge", "score")
# Bump when a stage's code changes its output, so old results are not reused.
STAGE_VERSIONS = {"select": 1, "train": 1, "generate": 1, "judge": 1, "score": 1}
KEY_LENGTH = 12


def stable_hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class Trial:
    arm: str
    pool: str
    n_examples: int
    seed: int
    stage_keys: dict[str, str]

    @property
    def trial_id(self) -> str:
        return self.stage_keys["score"]

    @property
    def folder(self) -> str:
        """Readable and unique within a sweep; the stage keys say whether contents are current."""
        return f"{self.arm}-n{self.n_examples}-s{self.seed}"


def _without(section: Any, *memory_only: str) -> dict[str, Any]:
    values = asdict(section)
    for key in memory_only:
        values.pop(key)
    return values


def stage_keys(
    config: Config, pool_fingerprint: str, eval_fingerprint: str, n: int, seed: int
) -> dict[str, str]:
    v = STAGE_VERSIONS
    keys = {"select": stable_hash([v["select"], pool_fingerprint, n, seed])}
    training = _without(config.training, "micro_batch_size", "gradient_checkpointing")
    if config.training.method != "lora":
        training.pop("lora")  # LoRA settings do not touch a full fine-tune
    model = [asdict(config.model), builtin_version(config.model.name_or_path)]
    code = [v["train"], CHAT_TEMPLATE_VERSION]
    keys["train"] = stable_hash([code, keys["select"], model, training])
    evaluation = [eval_fingerprint, config.evaluation.max_prompts]
    generation = asdict(config.generation)
    keys["generate"] = stable_hash([v["generate"], keys["train"], generation, evaluation])
    judge = [_without(config.judge, "batch_size"), builtin_version(config.judge.model)]
    code = [v["judge"], rubric_version(config.judge.mode)]
    keys["judge"] = stable_hash([code, keys["generate"], judge])
    score = [config.evaluation.confidence, config.evaluation.bootstrap_resamples]
    keys["score"] = stable_hash([v["score"], keys["judge"], score])
    return keys


def plan_trials(
    config: Config, pool_fingerprints: dict[str, str], eval_fingerprint: str
) -> list[Trial]:
    """One trial per (arm, size, seed), in that nesting order."""
    trials = []
    for arm_name, arm in config.sweep.arms.items():
        for n in config.sweep.sizes:
            for seed in config.sweep.seeds:
                keys = stage_keys(config, pool_fingerprints[arm.pool], eval_fingerprint, n, seed)
                trials.append(Trial(arm_name, arm.pool, n, seed, keys))
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
