"""The `openai` judge backend: JudgeConfig -> an OpenAIJudge on a shared reply cache."""

from __future__ import annotations

from pathlib import Path

from ablate.config.schema import JudgeConfig
from ablate.judge.cache import JudgeCache
from ablate.judge.http_client import EndpointSettings
from ablate.judge.openai_judge import HttpJudgeSettings, OpenAIJudge
from ablate.judge.prompt import JudgeTemplate
from ablate.judge.templates import builtin_template, load_template


def template_for(cfg: JudgeConfig) -> JudgeTemplate:
    return (
        load_template(Path(cfg.template), cfg.mode) if cfg.template else builtin_template(cfg.mode)
    )


def judge_from_config(cfg: JudgeConfig, device: str, cache_path: Path) -> OpenAIJudge:
    endpoint = EndpointSettings(
        base_url=cfg.base_url or "",
        model=cfg.model,
        api_key_env=cfg.api_key_env,
        max_concurrency=cfg.max_concurrency,
        requests_per_minute=cfg.requests_per_minute,
        timeout_s=cfg.timeout_s,
        max_retries=cfg.max_retries,
    )
    settings = HttpJudgeSettings(
        endpoint=endpoint,
        mode=cfg.mode,
        template=template_for(cfg),
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        top_logprobs=cfg.top_logprobs if cfg.mode == "likert" else None,
        repair=cfg.repair,
        price_prompt_per_million=cfg.price_prompt_per_million,
        price_completion_per_million=cfg.price_completion_per_million,
    )
    return OpenAIJudge(settings, JudgeCache(cache_path))
