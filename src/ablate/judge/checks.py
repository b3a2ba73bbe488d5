"""Checks only the judge knows: its backend's settings, its mode's, and a pairwise judge's
reference. Config validation runs them through the checks the caller hands in."""

from __future__ import annotations

from pathlib import Path

from ablate.config.schema import Config, JudgeConfig
from ablate.config.validate import DTYPES, _at_least, _choice, _positive, _within
from ablate.judge.backends import JUDGE_BACKENDS, JUDGE_MODES
from ablate.registry import suggest


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
