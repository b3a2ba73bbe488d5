"""A config's trials as `ablate plan` makes them (the evaluation's fingerprints included), and
one stage's keys across them: for tests of what keys a stage."""

from __future__ import annotations

from ablate.checks import plan_fingerprints
from ablate.config.schema import Config
from ablate.plan import Trial, plan_trials
from ablate.stages import code_versions


def plan(c: Config) -> list[Trial]:
    pool_fps, eval_fp = plan_fingerprints(c)
    return plan_trials(c, pool_fps, eval_fp, code_versions)


def keys(c: Config, stage: str) -> list[str]:
    return [t.stage_keys[stage] for t in plan(c)]
