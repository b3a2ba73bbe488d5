"""Before any trial starts: an HTTP judge's key variable is set and its endpoint answers.

A wrong URL or a missing key should cost seconds, not a sweep's worth of training."""

from __future__ import annotations

import os

from ablate.config.schema import JudgeConfig
from ablate.errors import UserError
from ablate.judge.http_client import key_problem

AUTH_FAILURES = (401, 403)


def check_endpoint(cfg: JudgeConfig, timeout_s: float = 10.0) -> None:
    import httpx

    headers = {}
    if cfg.api_key_env:
        key = os.environ.get(cfg.api_key_env, "")
        if not key:
            raise UserError(
                f"judge.api_key_env: the environment variable {cfg.api_key_env} is not set; "
                f"export {cfg.api_key_env}=<your key>, or set judge.api_key_env=null for a "
                "server without authentication."
            )
        problem = key_problem(key)
        if problem:
            raise UserError(
                f"judge.api_key_env: the key in {cfg.api_key_env} {problem}; set it again."
            )
        headers["Authorization"] = f"Bearer {key}"
    url = f"{(cfg.base_url or '').rstrip('/')}/models"
    try:
        status = httpx.get(url, headers=headers, timeout=timeout_s).status_code
    except httpx.HTTPError as exc:
        raise UserError(
            f"judge.base_url: cannot reach {cfg.base_url} ({type(exc).__name__}); check the URL "
            "and that the server is running."
        ) from None
    if status in AUTH_FAILURES:
        raise UserError(
            f"judge.base_url: {cfg.base_url} refused the key in {cfg.api_key_env} "
            f"(HTTP {status}); check the key."
        )
    # Other statuses (some servers have no /models) say nothing about chat completions.
