"""Fuzzing the inputs: broken sweep and experiment files and command-line overrides.

The project's rule for bad input: ONE clear error that names the file, the setting (dotted
path) or the URL, exit code 2, no traceback, and nothing written under the results folder.
Each case below is fed to `validate`, `plan` and `run` (in-process, through the CLI's entry
point, with sys.argv set), and a handful through the real `ablate` command in a subprocess.
Every case must be refused before Ray starts: an in-process command that gets that far fails
the test at once (nothing is trained).
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from ablate.cli import main
from tests.support.cli import clean_env, run_ablate

# ---------------------------------------------------------------------------------------------
# The files every case starts from: a small valid experiment and sweep (tiny model, synthetic
# pool, LIMA's defaults otherwise), each a dict of top-level sections so that a case can
# replace or add one. Few settings: the loader's cost grows with each one.

EXPERIMENT: dict[str, str] = {
    "model": "model: {name_or_path: builtin:tiny}\n",
    "pools": "pools:\n  synthetic: {source: synthetic, size: 200}\n",
    "judge": "judge: {model: builtin:tiny}\n",
}
SWEEP: dict[str, str] = {
    "name": "name: fuzz\n",
    "experiment": "experiment: experiment.yaml\n",
    "sweep": "sweep:\n  arms:\n    synthetic: {pool: synthetic}\n  sizes: [8, 16]\n",
}


def experiment(**sections: str | None) -> str:
    """The base experiment with sections replaced (None drops one); new names are appended."""
    return "".join(text for text in (EXPERIMENT | sections).values() if text is not None)


def sweep(**sections: str | None) -> str:
    """The base sweep with sections replaced (None drops one); new names are appended."""
    return "".join(text for text in (SWEEP | sections).values() if text is not None)


def jsonl(n: int) -> str:
    return "".join(f'{{"prompt": "question {i}?", "response": "answer {i}."}}\n' for i in range(n))


# A judge that needs no server to pass the config checks (nothing here ever calls it).
OPENAI = ("judge.backend=openai", "judge.base_url=http://127.0.0.1:9/v1", "judge.model=m")
ALL = ("validate", "plan", "run")

# Placeholders, replaced in overrides and expected texts: the case's own paths.
TMP, SWEEP_FILE, EXPERIMENT_FILE, RESULTS = "<tmp>", "<sweep>", "<experiment>", "<results>"


@dataclass(frozen=True)
class Case:
    id: str
    expect: tuple[str, ...]  # each must appear in the output (placeholders filled in)
    overrides: tuple[str, ...] = ()
    sweep: str | bytes | None = None  # the sweep file's content; None: the base sweep
    experiment: str | bytes | None = None  # experiment.yaml's content; None: the base
    files: tuple[tuple[str, str | bytes], ...] = ()  # more files under the case's folder
    commands: tuple[str, ...] = ALL
    # The results folder before the call: "absent" (a fresh path), "empty" (an empty folder),
    # "file" (an existing file) or "garbage-db" (a folder holding a damaged mlflow.db).
    results: str = "absent"


CASES: list[Case] = [
    # --- wrong shapes: a list or a scalar where a mapping belongs, and the reverse ----------
    Case(
        "sweep-arms-list",
        (f"{SWEEP_FILE}: sweep.arms: expected a mapping",),
        sweep=sweep(sweep="sweep:\n  arms: [synthetic]\n  sizes: [8]\n"),
    ),
    Case(
        "sweep-arms-list-empty-results-dir",
        (f"{SWEEP_FILE}: sweep.arms: expected a mapping",),
        sweep=sweep(sweep="sweep:\n  arms: [synthetic]\n  sizes: [8]\n"),
        results="empty",
    ),
    Case(
        "experiment-pools-scalar",
        (f"{EXPERIMENT_FILE}: pools: expected a mapping",),
        experiment=experiment(pools="pools: 5\n"),
    ),
    Case(
        "sweep-evaluation-list",
        (f"{SWEEP_FILE}: evaluation: expected a mapping",),
        sweep=sweep(evaluation="evaluation: [x]\n"),
    ),
    Case(
        "override-sizes-mapping",
        ("command line: sweep.sizes: expected a list",),
        overrides=("sweep.sizes={a: 1}",),
    ),
    Case(
        "experiment-training-scalar",
        (f"{EXPERIMENT_FILE}: training: expected a mapping",),
        experiment=experiment(training="training: 3\n"),
    ),
    Case(
        "override-arm-scalar",
        ("command line: sweep.arms.x: expected a mapping",),
        overrides=("sweep.arms.x=7",),
    ),
    Case(
        "override-target-modules-scalar",
        ("command line: training.lora.target_modules: expected a list",),
        overrides=("training.lora.target_modules=x",),
    ),
    Case(
        "experiment-model-scalar",
        (f"{EXPERIMENT_FILE}: model: expected a mapping",),
        experiment=experiment(model="model: builtin:tiny\n"),
    ),
    Case(
        "sweep-seeds-scalar",
        (f"{SWEEP_FILE}: sweep.seeds: expected a list",),
        sweep=sweep(
            sweep="sweep:\n  arms: {synthetic: {pool: synthetic}}\n  sizes: [8]\n  seeds: 3\n"
        ),
    ),
    Case(
        "override-name-list",
        ("command line: name: expected a single value",),
        overrides=("name=[a]",),
    ),
    Case(
        "override-max-seq-length-mapping",
        ("command line: training.max_seq_length: expected a single value",),
        overrides=("training.max_seq_length.x=1",),
    ),
    # A list inside a list of numbers or names: the element's shape is not checked.
    Case("override-sizes-nested-list", ("sweep.sizes",), overrides=("sweep.sizes=[[8]]",)),
    Case("override-seeds-nested-list", ("sweep.seeds",), overrides=("sweep.seeds=[[1]]",)),
    Case(
        "override-target-modules-list-of-mappings",
        ("training.lora.target_modules",),
        overrides=("training.method=lora", "training.lora.target_modules=[{a: 1}]"),
    ),
    # --- overrides that are not key=value, or whose value is not YAML ------------------------
    Case(
        "override-sizes-unclosed-list",
        ("command line: override 'sweep.sizes=[8' does not parse",),
        overrides=("sweep.sizes=[8",),
    ),
    Case(
        "override-seeds-unclosed-mapping",
        ("command line: override 'sweep.seeds={' does not parse",),
        overrides=("sweep.seeds={",),
    ),
    Case(
        "override-without-equals",
        ("override 'training.epochs' is not of the form key=value",),
        overrides=("training.epochs",),
    ),
    Case(
        "override-empty-key",
        ("override '=3' is not of the form key=value",),
        overrides=("=3",),
    ),
    # --- unknown keys at several depths, with "did you mean" ---------------------------------
    Case(
        "sweep-unknown-top-level-key",
        (f"{SWEEP_FILE}: trainig: Key 'trainig' not in 'Config'", "Did you mean"),
        sweep=sweep(trainig="trainig: {epochs: 3}\n"),
    ),
    Case(
        "experiment-unknown-pool-key",
        (f"{EXPERIMENT_FILE}: pools.synthetic.sise:", "Did you mean: 'size'"),
        experiment=experiment(pools="pools:\n  synthetic: {source: synthetic, sise: 100}\n"),
    ),
    Case(
        "experiment-unknown-judge-key",
        (f"{EXPERIMENT_FILE}: judge.modle:", "Did you mean"),
        experiment=experiment(judge="judge: {model: builtin:tiny, modle: x}\n"),
    ),
    Case(
        "override-unknown-lora-key",
        ("command line: training.lora.rr:", "Did you mean: 'r'"),
        overrides=("training.lora.rr=3",),
    ),
    Case(
        "override-unknown-arm-key",
        ("command line: sweep.arms.synthetic.pol:", "Did you mean: 'pool'"),
        overrides=("sweep.arms.synthetic.pol=synthetic",),
    ),
    # --- wrong scalar types -----------------------------------------------------------------
    Case(
        "override-epochs-text",
        ("command line: training.epochs:",),
        overrides=("training.epochs=x",),
    ),
    Case(
        "override-epochs-fraction",
        ("command line: training.epochs:",),
        overrides=("training.epochs=2.5",),
    ),
    Case(
        "experiment-max-new-tokens-text",
        (f"{EXPERIMENT_FILE}: generation.max_new_tokens:",),
        experiment=experiment(generation="generation: {max_new_tokens: lots}\n"),
    ),
    Case(
        "override-tracking-enabled-not-bool",
        ("command line: tracking.enabled:",),
        overrides=("tracking.enabled=maybe",),
    ),
    Case(
        "override-sizes-text-element",
        ("command line: sweep.sizes[0]:",),
        overrides=("sweep.sizes=[a]",),
    ),
    Case("sweep-name-is-a-date", (f"{SWEEP_FILE}: name:",), sweep=sweep(name="name: 2024-01-01\n")),
    Case("override-name-null", ("command line: name:",), overrides=("name=",)),
    # --- out-of-range values ----------------------------------------------------------------
    Case("override-seed-negative", ("sweep.seeds: seed -1",), overrides=("sweep.seeds=[-1]",)),
    Case(
        "override-seed-2-to-the-32",
        ("sweep.seeds: seed 4294967296",),
        overrides=("sweep.seeds=[4294967296]",),
    ),
    Case(
        "override-pool-seed-negative",
        ("pools.synthetic.seed: seed -1",),
        overrides=("pools.synthetic.seed=-1",),
    ),
    Case(
        "experiment-max-seq-length-4",
        ("training.max_seq_length: 4 tokens",),
        experiment=experiment(training="training: {method: full, max_seq_length: 4}\n"),
    ),
    Case(
        "override-lora-r-0",
        ("training.lora.r: must be >= 1",),
        overrides=("training.method=lora", "training.lora.r=0"),
    ),
    Case(
        "override-repetition-penalty-negative",
        ("generation.repetition_penalty: must be > 0",),
        overrides=("generation.repetition_penalty=-1",),
    ),
    Case(
        "override-top-p-2", ("generation.top_p: must be in",), overrides=("generation.top_p=2.0",)
    ),
    Case(
        "override-top-p-nan",
        ("generation.top_p: must be in",),
        overrides=("generation.top_p=.nan",),
    ),
    Case(
        "override-bootstrap-resamples-0",
        ("evaluation.bootstrap_resamples: must be >=",),
        overrides=("evaluation.bootstrap_resamples=0",),
    ),
    Case(
        "override-confidence-1.5",
        ("evaluation.confidence: must be in",),
        overrides=("evaluation.confidence=1.5",),
    ),
    Case(
        "override-adam-beta2-1",
        ("training.adam_beta2: must be in",),
        overrides=("training.adam_beta2=1.0",),
    ),
    Case(
        "override-top-logprobs-50",
        ("judge.top_logprobs: must be in",),
        overrides=(*OPENAI, "judge.top_logprobs=50"),
    ),
    Case(
        "override-resources-max-retries-negative",
        ("resources.max_retries: must be >= 0",),
        overrides=("resources.max_retries=-1",),
    ),
    Case(
        "override-batch-not-multiple-of-micro-batch",
        ("training.batch_size: 10 is not a multiple",),
        overrides=("training.batch_size=10", "training.micro_batch_size=4"),
    ),
    Case(
        "override-one-evaluation-prompt",
        ("evaluation.prompts: 1 prompt(s)",),
        overrides=("evaluation.max_prompts=1",),
    ),
    # --- files that are not a YAML mapping ---------------------------------------------------
    Case(
        "sweep-duplicate-key",
        (SWEEP_FILE, "duplicate key 'sizes' (first set on line 6)", "line 7"),
        sweep=sweep(
            sweep="sweep:\n  arms:\n    synthetic: {pool: synthetic}\n  sizes: [8]\n  sizes: [16]\n"
        ),
    ),
    Case(
        "experiment-duplicate-top-level-key",
        (EXPERIMENT_FILE, "duplicate key 'model' (first set on line 1)"),
        experiment=experiment(again="model: {dtype: auto}\n"),
    ),
    Case(
        "sweep-yaml-does-not-parse",
        (f"{SWEEP_FILE}: not valid YAML", "line 1"),
        sweep="name: [unclosed\n",
    ),
    Case(
        "experiment-yaml-does-not-parse",
        (f"{EXPERIMENT_FILE}: not valid YAML",),
        experiment="model:\n  name_or_path: builtin:tiny\n bad indent: [\n",
    ),
    Case(
        "sweep-python-tag",
        (f"{SWEEP_FILE}: not valid YAML",),
        sweep="name: !!python/object/apply:os.system [echo]\n",
    ),
    Case(
        "sweep-unhashable-key",
        (f"{SWEEP_FILE}: not valid YAML", "unhashable key"),
        sweep=sweep(extra="? [a]\n: 1\n"),
    ),
    Case(
        "sweep-not-utf8",
        (f"{SWEEP_FILE}: not UTF-8",),
        sweep=sweep().encode() + b"# caf\xe9\n",
    ),
    Case(
        "experiment-not-utf8",
        (f"{EXPERIMENT_FILE}: not UTF-8",),
        experiment=b"model: {name_or_path: caf\xe9}\n",
    ),
    Case("sweep-empty-file", (SWEEP_FILE, "name: required"), sweep=""),
    Case(
        "experiment-empty-file",
        (SWEEP_FILE, "model.name_or_path: required"),
        experiment="",
    ),
    Case(
        "sweep-top-level-list",
        (f"{SWEEP_FILE}: the top level must be a mapping",),
        sweep="- name: fuzz\n- sweep: {}\n",
    ),
    Case(
        "experiment-top-level-scalar",
        (f"{EXPERIMENT_FILE}: the top level must be a mapping",),
        experiment="just a sentence\n",
    ),
    Case(
        "sweep-missing-experiment-file",
        (f"{TMP}/nope.yaml: no such file",),
        sweep=sweep(experiment="experiment: nope.yaml\n"),
    ),
    Case(
        "override-missing-experiment-file",
        (f"{TMP}/nope.yaml: no such file",),
        overrides=("experiment=nope.yaml",),
    ),
    Case(
        "sweep-experiment-key-is-a-list",
        (f"{SWEEP_FILE}: experiment: expected a single value",),
        sweep=sweep(experiment="experiment: [experiment.yaml]\n"),
    ),
    # The command line's experiment must not be dropped for the sweep file's.
    Case("override-experiment-is-a-list", ("experiment",), overrides=("experiment=[a.yaml]",)),
    # --- sweep semantics ---------------------------------------------------------------------
    Case(
        "override-arm-unknown-pool",
        ("sweep.arms.x.pool: no pool 'synthetc'", "Did you mean 'synthetic'"),
        overrides=("sweep.arms.x.pool=synthetc",),
    ),
    Case(
        "sweep-arm-without-pool",
        ("sweep.arms.x: give its data as exactly one of pool",),
        sweep=sweep(sweep="sweep:\n  arms: {x: {}}\n  sizes: [8]\n"),
    ),
    Case(
        "sweep-arm-null",
        (f"{SWEEP_FILE}: sweep.arms.x:",),
        sweep=sweep(sweep="sweep:\n  arms: {x: null}\n  sizes: [8]\n"),
    ),
    Case(
        "sweep-no-arms",
        ("sweep.arms: at least one arm",),
        sweep=sweep(sweep="sweep:\n  sizes: [8]\n"),
    ),
    # An arm's name becomes a trial folder (trials/<arm>-n<size>-s<seed>) and an MLflow key.
    Case(
        "sweep-arm-name-climbs-out",
        ("sweep.arms",),
        sweep=sweep(sweep='sweep:\n  arms: {"../x": {pool: synthetic}}\n  sizes: [8]\n'),
    ),
    Case("override-duplicate-sizes", ("sweep.sizes: repeated",), overrides=("sweep.sizes=[8,8]",)),
    Case("override-size-zero", ("sweep.sizes: sizes must be > 0",), overrides=("sweep.sizes=[0]",)),
    Case(
        "sweep-name-with-space",
        ("name: 'a b' must be",),
        sweep=sweep(name='name: "a b"\n'),
    ),
    Case(
        "override-judge-name-with-slash",
        ("judge.name: 'a/b' must be",),
        overrides=("judge.name=a/b",),
    ),
    # --- pools and their files ---------------------------------------------------------------
    Case(
        "pool-file-missing",
        (f"pools.synthetic.path: no such file {TMP}/missing.jsonl",),
        overrides=("pools.synthetic.source=jsonl", "pools.synthetic.path=missing.jsonl"),
    ),
    Case(
        "pool-file-malformed-jsonl",
        (f"{TMP}/pool.jsonl, line 3",),
        overrides=("pools.synthetic.source=jsonl", "pools.synthetic.path=pool.jsonl"),
        files=(("pool.jsonl", jsonl(2) + '{"prompt": "p", "response"\n'),),
    ),
    Case(
        "pool-file-not-objects",
        (f"{TMP}/pool.jsonl, line 1: expected a JSON object",),
        overrides=("pools.synthetic.source=jsonl", "pools.synthetic.path=pool.jsonl"),
        files=(("pool.jsonl", "[1, 2]\n"),),
    ),
    Case(
        "pool-file-not-utf8",
        (f"{TMP}/pool.jsonl",),
        overrides=("pools.synthetic.source=jsonl", "pools.synthetic.path=pool.jsonl"),
        files=(("pool.jsonl", b'{"prompt": "caf\xe9", "response": "r"}\n'),),
    ),
    Case(
        "pool-file-too-small",
        ("pools.synthetic: 5 records cannot fill the 16",),
        overrides=("pools.synthetic.source=jsonl", "pools.synthetic.path=pool.jsonl"),
        files=(("pool.jsonl", jsonl(5)),),
    ),
    Case(
        "synthetic-pool-too-small",
        ("pools.synthetic.size: 10 records cannot fill the 16 needed",),
        overrides=("pools.synthetic.size=10",),
    ),
    Case(
        "override-unknown-pool-source",
        ("pools.synthetic.source: unknown pool source 'synthetik'", "Did you mean"),
        overrides=("pools.synthetic.source=synthetik",),
    ),
    Case(
        "evaluation-prompts-malformed-jsonl",
        (f"{TMP}/prompts.jsonl, line 2",),
        overrides=("evaluation.prompts.source=jsonl", "evaluation.prompts.path=prompts.jsonl"),
        files=(("prompts.jsonl", jsonl(1) + "{not json\n"),),
    ),
    # --- the judge ---------------------------------------------------------------------------
    Case(
        "pairwise-without-reference",
        ("judge.reference_arm: pairwise needs exactly one",),
        overrides=(*OPENAI, "judge.mode=pairwise"),
    ),
    # validate must refuse exactly as run does: pairwise with an arm is `ablate judge`'s job.
    Case(
        "pairwise-with-reference-arm",
        ("judge.reference_arm: comparing with another arm",),
        overrides=(*OPENAI, "judge.mode=pairwise", "judge.reference_arm=synthetic"),
    ),
    Case(
        "pairwise-with-reference-arm-hf-judge",
        ("judge.mode: the hf judge does not grade 'pairwise'",),
        overrides=("judge.mode=pairwise", "judge.reference_arm=synthetic"),
    ),
    Case(
        "pairwise-reference-file-missing",
        (f"judge.reference_file: no such file {TMP}/ref.jsonl",),
        overrides=(*OPENAI, "judge.mode=pairwise", "judge.reference_file=ref.jsonl"),
    ),
    Case(
        "judge-template-missing",
        (f"judge.template: no such file {TMP}/rubric.yaml",),
        overrides=(*OPENAI, "judge.template=rubric.yaml"),
    ),
    # A rubric or reference file that cannot be read is only met in a worker, after training
    # (run checks the endpoint first, so run's refusal would name judge.base_url instead).
    Case(
        "judge-template-malformed",
        (f"{TMP}/rubric.yaml",),
        overrides=(*OPENAI, "judge.template=rubric.yaml"),
        files=(("rubric.yaml", "mode: likert\nuser: [unclosed\n"),),
        commands=("validate", "plan"),
    ),
    Case(
        "pairwise-reference-file-malformed",
        (f"{TMP}/ref.jsonl",),
        overrides=(*OPENAI, "judge.mode=pairwise", "judge.reference_file=ref.jsonl"),
        files=(("ref.jsonl", "[1, 2]\n"),),
        commands=("validate", "plan"),
    ),
    Case(
        "unknown-judge-backend",
        ("judge.backend: unknown judge backend 'bogus'",),
        overrides=("judge.backend=bogus",),
    ),
    Case(
        "unknown-judge-mode",
        (
            "judge.mode: unknown judge mode 'bogus' "
            "(known: absolute, dialogue, likert, pairwise, safety)",
        ),
        overrides=("judge.mode=bogus",),
    ),
    Case(
        "unknown-training-method",
        ("training.method: 'qlora' is not one of", "Did you mean 'lora'"),
        overrides=("training.method=qlora",),
    ),
    Case(
        "unknown-model-dtype", ("model.dtype: 'fp8' is not one of",), overrides=("model.dtype=fp8",)
    ),
    Case(
        "unknown-judge-dtype",
        ("judge.dtype: 'int4' is not one of",),
        overrides=("judge.dtype=int4",),
    ),
    # --- what only run checks: the results folder, the tracking store, the models ------------
    Case(
        "results-dir-is-a-file",
        (f"--results-dir {RESULTS}: is a file",),
        commands=("run",),
        results="file",
    ),
    Case(
        "tracking-uri-bogus-scheme",
        ("'bogus://x'", "tracking.tracking_uri"),
        overrides=("tracking.tracking_uri=bogus://x",),
        commands=("run",),
    ),
    Case(
        "tracking-uri-bogus-scheme-empty-results-dir",
        ("'bogus://x'", "tracking.tracking_uri"),
        overrides=("tracking.tracking_uri=bogus://x",),
        commands=("run",),
        results="empty",
    ),
    Case(
        "mlflow-db-not-a-database",
        (f"{RESULTS}/mlflow.db is not an SQLite database",),
        commands=("run",),
        results="garbage-db",
    ),
    Case(
        "unknown-builtin-model",
        ("model.name_or_path: unknown builtin model 'huge'",),
        overrides=("model.name_or_path=builtin:huge",),
        commands=("run",),
    ),
    Case(
        "model-folder-without-config",
        (f"model.name_or_path: '{TMP}/no-model' is not a model folder",),
        overrides=("model.name_or_path=./no-model",),
        commands=("run",),
    ),
]


# ---------------------------------------------------------------------------------------------
# Running one case


@dataclass
class Paths:
    root: Path
    sweep: Path
    experiment: Path
    results: Path

    def fill(self, text: str) -> str:
        for placeholder, path in (
            (TMP, self.root),
            (SWEEP_FILE, self.sweep),
            (EXPERIMENT_FILE, self.experiment),
            (RESULTS, self.results),
        ):
            text = text.replace(placeholder, str(path))
        return text


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def prepare(case: Case, tmp_path: Path) -> Paths:
    root = tmp_path.resolve()
    paths = Paths(root, root / "sweep.yaml", root / "experiment.yaml", root / "results")
    _write(paths.sweep, sweep() if case.sweep is None else case.sweep)
    _write(paths.experiment, experiment() if case.experiment is None else case.experiment)
    for name, content in case.files:
        _write(root / name, content)
    if case.results == "empty":
        paths.results.mkdir()
    elif case.results == "file":
        paths.results.write_text("a file where the results folder should be\n")
    elif case.results == "garbage-db":
        paths.results.mkdir()
        (paths.results / "mlflow.db").write_bytes(b"this is not an SQLite database\x00\x01")
    else:
        assert case.results == "absent", case.results
    return paths


def arguments(command: str, case: Case, paths: Paths) -> list[str]:
    overrides = [paths.fill(o) for o in case.overrides]
    return [command, str(paths.sweep), *overrides, "--results-dir", str(paths.results)]


Snapshot = dict[str, bytes | None] | None


def snapshot(path: Path) -> Snapshot:
    """Every file (its bytes) and folder (None) under `path`; None when nothing is there."""
    if not path.exists():
        return None
    if path.is_file():
        return {".": path.read_bytes()}
    return {
        str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(path.rglob("*"))
    }


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What a command did to a folder: paths added, removed or rewritten."""
    if before is None or after is None:
        return [] if before == after else sorted(before or after or {"."})
    return sorted(
        (before.keys() ^ after.keys())
        | {p for p in before.keys() & after.keys() if before[p] != after[p]}
    )


def assert_refused(
    code: object, out: str, err: str, expect: list[str], where: Path, before: Snapshot
) -> None:
    shown = f"exit code {code}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    assert "Traceback" not in out + err, shown
    assert code == 2, shown
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"expected ONE error message\n{shown}"
    for needle in expect:
        assert needle in out + err, f"the message does not name {needle!r}\n{shown}"
    after = snapshot(where)
    assert after == before, (
        f"{where} changed by a refused command: {changes(before, after)}\n{shown}"
    )


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No tracking server or cluster from the environment, the case folder as the cwd, and
    Ray out of reach: a command that gets as far as starting it fails the test."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    guard = types.ModuleType("ablate.runner")

    def runner(name: str) -> object:
        if name.startswith("__"):  # introspection (inspect, pytest): not the runner's API
            raise AttributeError(name)

        def called(*args: object, **kwargs: object) -> object:
            pytest.fail(f"the command was not refused before Ray: it called ablate.runner.{name}")

        return called

    guard.__getattr__ = runner  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "ablate.runner", guard)


def call_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[object, str, str]:
    """The `ablate` entry point in this process: its exit code, stdout and stderr. An
    uncaught exception escapes (the test fails with its traceback)."""
    monkeypatch.setattr(sys, "argv", ["ablate", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return (0 if code is None else code), captured.out, captured.err


PARAMS = [
    pytest.param(command, case, id=f"{command}-{case.id}")
    for case in CASES
    for command in case.commands
]


@pytest.mark.parametrize(("command", "case"), PARAMS)
def test_bad_input_is_refused_cleanly(
    command: str,
    case: Case,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_env: None,
) -> None:
    if command == "run":
        request.getfixturevalue("tiny_cache")  # run checks its models before refusing later
    paths = prepare(case, tmp_path)
    before = snapshot(paths.results)
    code, out, err = call_cli(arguments(command, case, paths), monkeypatch, capsys)
    expect = [paths.fill(e) for e in case.expect]
    assert_refused(code, out, err, expect, paths.results, before)


def test_capture_sees_the_cli_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_env: None,
) -> None:
    """The harness itself: a valid sweep is accepted and its output reaches the test (so an
    error message would too)."""
    paths = prepare(Case("valid", ()), tmp_path)
    code, out, err = call_cli(
        ["validate", str(paths.sweep), "--results-dir", str(paths.results)], monkeypatch, capsys
    )
    assert code == 0, err
    assert f"{paths.sweep}: valid. Sweep 'fuzz', 2 trials." in out
    assert not paths.results.exists()


def test_validate_refuses_pairwise_with_an_arm_exactly_like_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_env: None,
) -> None:
    """`validate` makes every sweep check `run` makes: the same refusal, word for word."""
    case = BY_ID["pairwise-with-reference-arm"]
    paths = prepare(case, tmp_path)
    refusals = {}
    for command in ("validate", "plan", "run"):
        code, out, err = call_cli(arguments(command, case, paths), monkeypatch, capsys)
        assert_refused(code, out, err, [paths.fill(e) for e in case.expect], paths.results, None)
        refusals[command] = err
    assert refusals["validate"] == refusals["plan"] == refusals["run"]


# ---------------------------------------------------------------------------------------------
# Commands on a sweep folder: resume and status


@dataclass(frozen=True)
class FolderCase:
    id: str
    command: str
    layout: str  # "not-a-sweep" | "empty" | "file" | "missing" | "damaged-config"
    expect: tuple[str, ...]  # <folder> is the folder given
    overrides: tuple[str, ...] = ()


FOLDER = "<folder>"
FOLDER_CASES = [
    FolderCase("resume-not-a-sweep", "resume", "not-a-sweep", (f"{FOLDER}: no config.yaml",)),
    FolderCase("status-not-a-sweep", "status", "not-a-sweep", (f"{FOLDER}: no trials found",)),
    FolderCase("status-empty-folder", "status", "empty", (f"{FOLDER}: no trials found",)),
    FolderCase("resume-empty-folder", "resume", "empty", (f"{FOLDER}: no config.yaml",)),
    FolderCase("status-a-file", "status", "file", (FOLDER,)),
    FolderCase("resume-a-file", "resume", "file", (FOLDER,)),
    FolderCase("status-missing-folder", "status", "missing", (FOLDER,)),
    FolderCase("resume-missing-folder", "resume", "missing", (FOLDER,)),
    FolderCase(
        "resume-damaged-config", "resume", "damaged-config", (f"{FOLDER}/config.yaml: missing",)
    ),
    FolderCase("resume-with-a-new-name", "resume", "not-a-sweep", ("name:",), ("name=other",)),
]


def prepare_folder(case: FolderCase, tmp_path: Path) -> Path:
    folder = tmp_path.resolve() / "quickstart"
    if case.layout in ("not-a-sweep", "damaged-config", "empty"):
        folder.mkdir()
    if case.layout == "not-a-sweep":
        (folder / "notes.txt").write_text("not a sweep\n")
    elif case.layout == "damaged-config":
        (folder / "config.yaml").write_text("name: [unclosed\n")
    elif case.layout == "file":
        folder.write_text("a file\n")
    return folder


@pytest.mark.parametrize("case", FOLDER_CASES, ids=[c.id for c in FOLDER_CASES])
def test_sweep_folder_commands_refuse_cleanly(
    case: FolderCase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_env: None,
) -> None:
    folder = prepare_folder(case, tmp_path)
    before = snapshot(folder)
    code, out, err = call_cli([case.command, str(folder), *case.overrides], monkeypatch, capsys)
    expect = [e.replace(FOLDER, str(folder)) for e in case.expect]
    assert_refused(code, out, err, expect, folder, before)


# ---------------------------------------------------------------------------------------------
# The real command, in a subprocess, refuses the same way

SUBPROCESS = [
    ("validate", "override-sizes-unclosed-list"),
    ("plan", "sweep-not-utf8"),
    ("run", "sweep-arms-list-empty-results-dir"),
    ("run", "sweep-duplicate-key"),
    ("run", "tracking-uri-bogus-scheme"),
    ("run", "mlflow-db-not-a-database"),
    ("run", "results-dir-is-a-file"),
]
BY_ID = {case.id: case for case in CASES}


@pytest.mark.parametrize(
    ("command", "case_id"), SUBPROCESS, ids=[f"{c}-{i}" for c, i in SUBPROCESS]
)
def test_the_real_command_refuses_alike(
    command: str, case_id: str, tmp_path: Path, tiny_cache: Path
) -> None:
    case = BY_ID[case_id]
    paths = prepare(case, tmp_path)
    before = snapshot(paths.results)
    done = run_ablate(
        *arguments(command, case, paths), cwd=paths.root, env=clean_env(), timeout=300
    )
    expect = [paths.fill(e) for e in case.expect]
    assert_refused(done.returncode, done.stdout, done.stderr, expect, paths.results, before)


def test_the_real_status_refuses_an_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path.resolve() / "empty"
    folder.mkdir()
    done = run_ablate("status", str(folder), cwd=tmp_path, env=clean_env(), timeout=300)
    assert_refused(
        done.returncode, done.stdout, done.stderr, [f"{folder}: no trials found"], folder, {}
    )


def test_a_malformed_external_pool_is_refused_before_anything_is_written(
    tmp_path: Path, tiny_cache: Path
) -> None:
    """A LIMA file that is not UTF-8: run must refuse it before Ray, the sweep folder, the plan
    and the MLflow store (a subprocess: if the refusal comes late, Ray starts there, not here)."""
    case = Case(
        "lima-pool-not-utf8",
        (f"{TMP}/lima.jsonl",),
        overrides=("pools.synthetic.source=lima", "pools.synthetic.path=lima.jsonl"),
        files=(("lima.jsonl", b'{"conversations": ["caf\xe9", "r"], "source": "x"}\n'),),
    )
    paths = prepare(case, tmp_path)
    done = run_ablate(*arguments("run", case, paths), cwd=paths.root, env=clean_env(), timeout=300)
    expect = [paths.fill(e) for e in case.expect]
    assert_refused(done.returncode, done.stdout, done.stderr, expect, paths.results, None)
