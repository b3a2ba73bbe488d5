"""Fixtures shared across test files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The builtin tiny model's folder, in one cache per test session (built once: later
    modules find the finished copy); ABLATE_CACHE points there while a module runs."""
    from ablate.models.tiny import builtin_path

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ABLATE_CACHE", str(tmp_path_factory.getbasetemp() / "ablate-cache"))
        yield builtin_path("tiny")
