"""Checks only the judge knows: its backend's settings and its mode's (each mode brings its
own, e.g. a pairwise judge's reference). Config validation runs them through the checks the
caller hands in."""

from __future__ import annotations

from pathlib import Path

from ablate.config.schema import Config, JudgeConfig
from ablate.config.validate import DTYPES, _at_least, _choice, _positive, _within
from ablate.judge.backends import JUDGE_BACKENDS
from ablate.judge.modes import JUDGE_MODES, judge_mode


def _judge_backend_problems(j: JudgeConfig) -> list[str]:
    if j.backend == "hf":
        problems = []
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


def _mode_problems(config: Config) -> list[str]:
    """The mode's own checks, whether the backend grades it, and no reference unless paired."""
    j = config.judge
    problem = JUDGE_MODES.problem(j.mode)
    if problem:
        return [f"judge.mode: {problem}"]
    mode = judge_mode(j.mode)
    problems = []
    if j.backend not in mode.backends:
        problems.append(
            f"judge.mode: the {j.backend} judge does not grade '{j.mode}'; use backend "
            f"{' or '.join(mode.backends)}"
        )
    if not mode.paired and (j.reference_arm or j.reference_file):
        problems.append(
            f"judge.reference_arm: only a mode that compares with a reference (pairwise) takes "
            f"reference_arm or reference_file, not '{j.mode}'"
        )
    return problems + mode.checks(config)


def judge_problems(config: Config) -> list[str]:
    j = config.judge
    backend_problem = JUDGE_BACKENDS.problem(j.backend)
    if backend_problem:
        return [f"judge.backend: {backend_problem}"]
    problems = _mode_problems(config)
    problems += _judge_backend_problems(j)
    if j.template and not Path(j.template).is_file():
        problems.append(f"judge.template: no such file {j.template}")
    if (
        j.name is not None
        and not j.name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        problems.append(f"judge.name: '{j.name}' must be letters, digits, '-', '_' or '.'")
    return problems
