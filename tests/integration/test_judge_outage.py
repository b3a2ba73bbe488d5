"""A judge outage is not a verdict: after training and generation (real, on CPU), a judge that
answers 503 to everything leaves the judge stage undone so `ablate resume` asks again. The chat
server is real (loopback); its replies are scripted."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.config.schema import (
    Config,
    EvaluationConfig,
    GenerationConfig,
    JudgeConfig,
    ModelConfig,
    PoolConfig,
    TrainingConfig,
)
from tests.support.chat_server import ChatServer, Status

pytestmark = pytest.mark.integration


def test_judge_outage_leaves_the_stage_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ablate.data.pools import prepare_pool
    from ablate.plan import STAGES, Trial
    from ablate.stages.pipeline import run_trial

    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path / "models"))
    # Training comes first: a long lifetime, so a loaded machine cannot outlast the server.
    with ChatServer(default=lambda r: Status(503, "down"), max_lifetime_s=3600) as server:
        config = Config(
            name="outage",
            model=ModelConfig(name_or_path="builtin:tiny", dtype="float32"),
            pools={"syn": PoolConfig(source="synthetic", size=20, seed=1)},
            training=TrainingConfig(
                method="full",
                epochs=1,
                batch_size=4,
                micro_batch_size=4,
                max_seq_length=128,
                learning_rate=1e-3,
                final_learning_rate=1e-4,
            ),
            generation=GenerationConfig(samples_per_prompt=1, max_new_tokens=4, batch_size=2),
            judge=JudgeConfig(
                backend="openai",
                model="m",
                base_url=server.url,
                api_key_env=None,
                max_retries=0,
                timeout_s=2,
            ),
            evaluation=EvaluationConfig(
                prompts=PoolConfig(source="synthetic", size=4, seed=2), bootstrap_resamples=100
            ),
        )
        trial = Trial("syn", "syn", 4, 0, {s: f"{s}-1" for s in STAGES}, "likert-m")
        root = tmp_path / "results" / "outage" / "trials" / trial.folder
        pool = prepare_pool("syn", config.pools["syn"], tmp_path / "results" / "pools")
        with pytest.raises(RuntimeError, match="judge calls failed for good"):
            run_trial(config, trial, root, {"syn": pool}, "cpu")
    assert (root / "generate" / "_done.json").is_file()
    assert not (root / "judge" / "likert-m" / "_done.json").exists(), "an outage is not a verdict"
