"""The command line as a user meets it: exit codes, one clear message, no traceback.

Each test runs `python -m ablate` in a subprocess; none starts Ray or trains a model.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import clean_env, run_ablate

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "sweeps" / "quickstart.yaml"


def ablate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_ablate(*args, cwd=cwd, env=clean_env(**(env or {})), timeout=300)


def assert_user_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr


def test_validate_exits_0_on_the_quickstart(tmp_path: Path) -> None:
    done = ablate("validate", str(QUICKSTART), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout and "4 trials" in done.stdout


def test_validate_names_every_problem_with_its_dotted_path(tmp_path: Path) -> None:
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(
        f"name: bad\nexperiment: {REPO / 'experiments' / 'tiny.yaml'}\n"
        "trainig: {epochs: 3}\ngeneration: {max_new_tokens: lots}\n"
        "sweep: {arms: {a: {pool: synthetic}}, sizes: [8]}\n"
    )
    done = ablate("validate", str(sweep), "training.epochs=x", cwd=tmp_path)
    assert_user_error(
        done, str(sweep), "trainig", "Did you mean", "generation.max_new_tokens", "training.epochs"
    )


def test_plan_prints_the_trials_and_writes_nothing(tmp_path: Path) -> None:
    done = ablate("plan", str(QUICKSTART), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for size in (32, 64, 128, 256):
        assert f"synthetic-n{size}-s0" in done.stdout
    # At most, per trial: 16 prompts x 2 samples x 48 tokens + 16 arithmetic problems x 16.
    assert "<=1,792" in done.stdout
    assert "generation tokens <=7,168 (every response to its token limit)" in done.stdout
    assert list(tmp_path.iterdir()) == []


SEARCH = REPO / "sweeps" / "search.yaml"


def test_plan_counts_the_judge_calls_of_dialogue_turns(tmp_path: Path) -> None:
    http_judge = ["judge.backend=openai", "judge.base_url=http://127.0.0.1:9/v1"]
    plain = ablate("plan", str(QUICKSTART), *http_judge, cwd=tmp_path)
    with_dialogues = ablate(
        "plan", str(QUICKSTART), *http_judge, "evaluation.dialogues={max_turns: 2}", cwd=tmp_path
    )
    assert plain.returncode == 0 and with_dialogues.returncode == 0, with_dialogues.stderr
    # 16 prompts x 2 samples a trial; the built-in 10 conversations add 2 turns each.
    assert "judge calls 128" in plain.stdout and "judge calls 208" in with_dialogues.stdout


def test_plan_on_a_search_prints_its_space_budget_and_cost(tmp_path: Path) -> None:
    done = ablate("plan", str(SEARCH), "search.confirm={top: 2, seeds: 3}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "training.learning_rate │ float in [0.0003, 0.003], log scale" in out
    assert "mixture.synthetic_b │ a mixture weight in [0, 1]" in out
    assert "objective: heldout_loss (minimize)" in out
    assert "8 configurations x 1 seed + confirmation 6 = 14 trials, 2 at a time" in out
    # 14 trials of 64 examples x 3 epochs of synthetic records, about 4 characters per token.
    assert "total: train tokens ~" in out and "judge calls 448" in out
    assert "generation tokens <=25,088" in out  # 14 trials x 1,792
    assert list(tmp_path.iterdir()) == []
    valid = ablate("validate", str(SEARCH), cwd=tmp_path)
    assert "Sweep 'search', a search of 8 configurations." in valid.stdout


def test_a_bad_search_space_is_refused_with_every_dotted_path(tmp_path: Path) -> None:
    done = ablate(
        "plan",
        str(SEARCH),
        "search.space.training.learning_rate={low: 1.0e-2, high: 1.0e-3}",
        "search.mixture=[synthetic, synthetic_c]",
        "search.objective=judge_meen",
        cwd=tmp_path,
    )
    assert_user_error(
        done,
        "search.space.training.learning_rate: low (0.01) must be below high (0.001)",
        "search.mixture[1]: no pool 'synthetic_c'",
        "search.objective: 'judge_meen' is not a trial metric",
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_pool_data_is_caught_by_validate(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n{not json\n")
    done = ablate(
        "validate",
        str(QUICKSTART),
        "pools.synthetic.source=jsonl",
        f"pools.synthetic.path={pool}",
        cwd=tmp_path,
    )
    assert_user_error(done, str(pool), "line 2")


def test_too_small_pool_is_caught_by_validate(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"prompt": f"p{i}", "response": "r"}) + "\n" for i in range(10))
    )
    done = ablate(
        "validate",
        str(QUICKSTART),
        "pools.synthetic.source=jsonl",
        f"pools.synthetic.path={pool}",
        cwd=tmp_path,
    )
    assert_user_error(done, "pools.synthetic", "10 records", "256")


@pytest.mark.parametrize("model", ["a/b/c", "not a model id"])
def test_malformed_model_names_are_a_clean_error(tmp_path: Path, model: str) -> None:
    done = ablate(
        "run",
        str(QUICKSTART),
        f"model.name_or_path={model}",
        "--results-dir",
        str(tmp_path / "results"),
        cwd=tmp_path,
    )
    assert_user_error(done, "model.name_or_path", model)
    assert not (tmp_path / "results").exists()


def test_unreachable_tracking_server_stops_before_any_trial(tmp_path: Path) -> None:
    # Port 9 on loopback (discard) has no HTTP server: the connection is refused at once.
    done = ablate(
        "run",
        str(QUICKSTART),
        "--results-dir",
        str(tmp_path / "results"),
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert_user_error(done, "http://127.0.0.1:9", "tracking")
    assert not list((tmp_path / "results").glob("quickstart/trials/*"))


def test_status_of_a_folder_that_is_not_a_sweep(tmp_path: Path) -> None:
    assert_user_error(ablate("status", str(tmp_path), cwd=tmp_path), str(tmp_path))


def test_resume_of_a_folder_that_is_not_a_sweep(tmp_path: Path) -> None:
    assert_user_error(ablate("resume", str(tmp_path), cwd=tmp_path), "config.yaml")


HTTP_JUDGE = ["judge.backend=openai", "judge.model=some-judge"]


def test_http_judge_without_its_key_variable_stops_before_any_trial(tmp_path: Path) -> None:
    done = ablate(
        "run",
        str(QUICKSTART),
        *HTTP_JUDGE,
        "judge.base_url=http://127.0.0.1:9/v1",
        "judge.api_key_env=ABLATE_TEST_UNSET_KEY",
        "--results-dir",
        str(tmp_path / "results"),
        cwd=tmp_path,
    )
    assert_user_error(done, "ABLATE_TEST_UNSET_KEY", "judge.api_key_env")
    assert not list((tmp_path / "results").glob("*/trials"))


def test_unreachable_judge_endpoint_stops_before_any_trial(tmp_path: Path) -> None:
    # Port 9 on loopback has no server: the connection is refused at once.
    done = ablate(
        "run",
        str(QUICKSTART),
        *HTTP_JUDGE,
        "judge.base_url=http://127.0.0.1:9/v1",
        "judge.api_key_env=null",
        "--results-dir",
        str(tmp_path / "results"),
        cwd=tmp_path,
    )
    assert_user_error(done, "http://127.0.0.1:9/v1", "judge.base_url")
    assert not list((tmp_path / "results").glob("*/trials"))


def test_pairwise_without_a_reference_is_a_config_error(tmp_path: Path) -> None:
    done = ablate(
        "validate",
        str(QUICKSTART),
        *HTTP_JUDGE,
        "judge.mode=pairwise",
        "judge.base_url=http://127.0.0.1:9/v1",
        cwd=tmp_path,
    )
    assert_user_error(done, "judge.reference_arm")


def test_judge_command_takes_judge_settings_only(tmp_path: Path) -> None:
    done = ablate("judge", str(tmp_path), "training.epochs=3", cwd=tmp_path)
    assert_user_error(done, "judge.*")


def test_version_and_a_judge_help_that_shows_judge_settings(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = ablate("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"ablate {version('ablate')}"
    helped = ablate("judge", "--help", cwd=tmp_path)
    assert helped.returncode == 0
    assert "training.epochs" not in helped.stdout and "judge.mode=" in helped.stdout
