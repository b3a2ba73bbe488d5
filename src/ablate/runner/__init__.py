"""Ray Tune runs the trials: one Tune trial per grid cell, with the config's resources.

The only module that imports ray. Workers run `ablate.stages.pipeline.run_trial`, which reads
and writes the trial's folder; they report only their current stage (for the progress display)
and their metrics to the driver, which alone writes to MLflow. A retried trial starts again and
skips the stages the ledger already holds, so Ray's own checkpoints are not needed.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate import layout
from ablate.config.schema import Config, ResourcesConfig
from ablate.errors import UserError
from ablate.plan import Trial, resolved_config

# Ray reads these at import: no Tune tables of its own (ours is the display), and workers
# keep the driver's working directory so relative paths mean the same everywhere.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
# Nor Tune's own per-trial logs (CSV, JSON, TensorBoard, one row per report: we report every
# training step): the ledger and MLflow hold what a user reads.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

import ray
from ray import tune

EventHandler = Callable[[str, str, dict[str, Any]], None]  # (event, trial folder, payload)


@dataclass
class WorkerSpec:
    config: Config  # the trial's resolved config (its arm's settings in place)
    trial: Trial
    root: str
    pool_dirs: dict[str, str]  # the prepared pools its data draws from


def resource_problems(cluster: dict[str, float], resources: ResourcesConfig) -> list[str]:
    """Why no trial could ever be scheduled on this cluster (pure, unit-tested)."""
    problems = []
    cpus, gpus = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    if resources.cpus_per_trial > cpus:
        problems.append(
            f"resources.cpus_per_trial={resources.cpus_per_trial} but the Ray "
            f"cluster has {cpus:g} CPUs"
        )
    if resources.gpus_per_trial > gpus:
        problems.append(
            f"resources.gpus_per_trial={resources.gpus_per_trial} but the Ray "
            f"cluster has {gpus:g} GPUs: set resources.gpus_per_trial=0 to run on CPUs"
        )
    return problems


def _fit(total: float, per_trial: float) -> int:
    # 1.0 // 0.2 == 4.0 in floating point; Ray counts resources in 1e-4 units, so do we.
    return round(total * 10_000) // round(per_trial * 10_000)


def concurrency(cluster: dict[str, float], resources: ResourcesConfig) -> int:
    """How many trials fit at once: the tighter of CPUs, GPUs and the configured cap."""
    fits = [_fit(cluster.get("CPU", 0.0), resources.cpus_per_trial)]
    if resources.gpus_per_trial > 0:
        fits.append(_fit(cluster.get("GPU", 0.0), resources.gpus_per_trial))
    if resources.max_concurrent_trials > 0:
        fits.append(resources.max_concurrent_trials)
    return max(1, min(fits))


def _worker(tune_config: dict[str, Any], specs: dict[str, WorkerSpec]) -> None:
    import torch
    from transformers.utils import logging as hf_logging

    from ablate.models.load import free_accelerator_memory
    from ablate.stages.pipeline import TrialConfigError

    spec = specs[tune_config["trial"]]
    hf_logging.disable_progress_bar()
    torch.set_num_threads(max(1, int(spec.config.resources.cpus_per_trial)))
    use_gpu = spec.config.resources.gpus_per_trial > 0 and torch.cuda.is_available()
    try:
        metrics = _run(spec, use_gpu)
    except TrialConfigError as exc:
        # Deterministic (a setting or the data): a retry would fail the same way after paying
        # for the same work again. The ledger holds the failure; the trial ends here.
        tune.report({"stage": "failed", "error": str(exc)})
        return
    finally:
        # The worker process runs the next trial too (Tune's reuse_actors): give back what
        # this trial's models held before the next one loads its own.
        free_accelerator_memory()
    tune.report({"stage": "done", **{k: v for k, v in metrics.items() if v is not None}})


def _run(spec: WorkerSpec, use_gpu: bool) -> dict[str, Any]:
    from ablate.stages.pipeline import run_trial

    return run_trial(
        spec.config,
        spec.trial,
        Path(spec.root),
        {pool: Path(folder) for pool, folder in spec.pool_dirs.items()},
        "cuda" if use_gpu else "cpu",
        report=lambda stage: tune.report({"stage": stage}),
        on_step=lambda step, steps: tune.report({"stage": "train", "step": step, "steps": steps}),
    )


def _measure_base(config: Config, out_dir: str) -> dict[str, Any]:
    import torch

    from ablate.stages.base import measure_base

    torch.set_num_threads(max(1, int(config.resources.cpus_per_trial)))
    use_gpu = config.resources.gpus_per_trial > 0 and torch.cuda.is_available()
    return measure_base(config, Path(out_dir), "cuda" if use_gpu else "cpu")


def measure_base_model(config: Config, out_dir: Path) -> dict[str, Any]:
    """The base model's measurement (ablate.stages.base) as one Ray task with a trial's
    resources, on the started cluster (a GPU where trials get one)."""
    r = config.resources
    task = ray.remote(num_cpus=r.cpus_per_trial, num_gpus=r.gpus_per_trial, max_retries=0)
    result: dict[str, Any] = ray.get(task(_measure_base).remote(config, str(out_dir.resolve())))
    return result


def _died(text: str) -> str | None:
    """Ray's long report of a worker that died (SIGKILL, OOM killer, segfault), in one line."""
    if "actor died unexpectedly" not in text and "worker process has died" not in text:
        return None
    exit_type = re.search(r"Worker exit type: (\w+)", text)
    pid = re.search(r"\bpid: (\d+)", text)
    facts = [
        f"Ray: {exit_type.group(1)}" if exit_type else "",
        f"pid {pid.group(1)}" if pid else "",
    ]
    detail = ", ".join(f for f in facts if f)
    return "its process died (killed, out of memory or a crash" + (
        f"; {detail})" if detail else ")"
    )


def error_summary(error_file: str | None) -> str:
    """What the user should read first in Ray's error file: the last exception line, or one
    line for a worker that died without raising."""
    if not error_file:
        return "no error report from Ray"
    try:
        text = Path(error_file).read_text("utf-8")
    except OSError:
        return "no error report from Ray"
    died = _died(text)
    if died:
        return died
    lines = [ln.strip() for ln in text.splitlines()]
    errors = [ln for ln in lines if ln and ("Error" in ln.split(":")[0] or "Exception" in ln)]
    line = errors[-1] if errors else next((ln for ln in reversed(lines) if ln), "")
    return line[:300] or "no error report from Ray"


class ForwardEvents(tune.Callback):
    """Forwards Tune's trial events to the driver's handler (the progress display)."""

    def __init__(self, handler: EventHandler) -> None:
        self.handler: EventHandler | None = handler

    # Tune pickles its callbacks into the experiment state; the handler (a live terminal
    # display) stays behind: it is only ever called here in the driver.
    def __getstate__(self) -> dict[str, Any]:
        return {"handler": None}

    def _emit(self, kind: str, trial: Any, payload: dict[str, Any]) -> None:
        if self.handler is not None:
            self.handler(kind, trial.config["trial"], payload)

    def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self._emit("start", trial, {})

    def on_trial_result(
        self, iteration: int, trials: Any, trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        keys = ("stage", "step", "steps", "error")
        self._emit("stage", trial, {k: result[k] for k in keys if k in result})

    def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self._emit("complete", trial, {})

    def on_trial_recover(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self._emit("retry", trial, {"error": error_summary(trial.error_file)})

    def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self._emit("error", trial, {"error": error_summary(trial.error_file)})


class RayStartError(UserError):
    pass


def _init(address: str) -> None:
    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        ignore_reinit_error=True,
    )


def start_ray(address: str | None, attempts: int = 2) -> dict[str, float]:
    """Start (or join) Ray; the cluster's resources. Every failure is one message, exit 2.

    Ray's own start-up waits a fixed 30 s for its processes and then raises a bare Exception;
    on a busy machine that happens, so a local start is tried once more before giving up."""
    # "local" always starts a private Ray here; None would quietly join a `ray start` cluster.
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    for attempt in range(1, attempts + 1):
        try:
            _init(address)
            break
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if address == "local" and attempt < attempts:
                ray.shutdown()
                continue
            raise RayStartError(
                f"cannot join the Ray cluster at '{address}': {exc}. Check --address "
                "or RAY_ADDRESS, or leave both unset to start Ray on this machine."
            ) from None
        except Exception as exc:  # Ray raises bare Exception on start-up timeouts
            ray.shutdown()
            if attempt < attempts:
                continue
            raise RayStartError(
                f"Ray did not start at '{address}' ({str(exc).splitlines()[0][:200]}); the "
                "machine may be too busy. Nothing was written: run the same command again."
            ) from None
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    return dict(ray.cluster_resources())


class RayCluster:
    """A started Ray: its resources, and its stop, which may begin early, in the background."""

    def __init__(self, resources: dict[str, float]) -> None:
        self.resources = resources
        self._stopping: threading.Thread | None = None

    def stop_in_background(self) -> None:
        """Begin stopping Ray while the caller goes on (the driver writes the report then):
        stopping waits a second or so on Ray's processes. No Ray call may follow."""
        if self._stopping is None:
            # Tune's objects hold Ray handles in reference cycles; freed by a later garbage
            # collection in this thread, after the shutdown, they reach into the stopped core
            # worker, which then kills the process (exit 1 after a finished sweep, seen once in
            # CI). Collect them now, while Ray is up.
            gc.collect()
            self._stopping = threading.Thread(target=ray.shutdown, name="ray-shutdown")
            self._stopping.start()

    def stop(self) -> None:
        if self._stopping is None:
            ray.shutdown()
        else:
            self._stopping.join()


@contextmanager
def ray_cluster(address: str | None, resources: ResourcesConfig) -> Iterator[RayCluster]:
    """Ray for the length of a command, checked to fit one trial; stopped on every exit."""
    cluster = RayCluster(start_ray(address))
    try:
        problems = resource_problems(cluster.resources, resources)
        if problems:
            raise UserError("; ".join(problems))
        yield cluster
    finally:
        cluster.stop()


def run_trials(
    config: Config,
    trials: list[Trial],
    sweep_dir: Path,
    pool_dirs: dict[str, Path],
    cluster: dict[str, float],
    on_event: EventHandler,
) -> None:
    """Run `trials` on a started cluster to completion or failure; failures are left for the
    ledger to report."""
    specs = {
        t.folder: WorkerSpec(
            resolved_config(config, t),
            t,
            str(layout.trial_dir(sweep_dir.resolve(), t.folder)),
            {pool: str(pool_dirs[pool]) for pool in t.weights},
        )
        for t in trials
    }
    tune_config = tune.TuneConfig(max_concurrent_trials=concurrency(cluster, config.resources))
    fit(config, specs, sweep_dir, "tune", on_event, tune_config,
        param_space={"trial": tune.grid_search([t.folder for t in trials])})  # fmt: skip


def fit(
    config: Config,
    specs: dict[str, WorkerSpec],
    sweep_dir: Path,
    name: str,
    on_event: EventHandler,
    tune_config: tune.TuneConfig,
    param_space: dict[str, Any] | None = None,
) -> None:
    """Tune runs `_worker` on each trial with the config's resources and retries; Tune's own
    files go to the sweep's _ray/<name>."""
    r = config.resources
    trainable = tune.with_resources(
        tune.with_parameters(_worker, specs=specs),
        {"cpu": r.cpus_per_trial, "gpu": r.gpus_per_trial},
    )
    # One worker process runs trial after trial: a fresh one per trial paid Ray's start and
    # torch's imports each time (about 4 s per trial on a laptop-sized machine).
    tune_config.reuse_actors = True
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune_config,
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(layout.ray_dir(sweep_dir).resolve()),
            verbose=0,
            callbacks=[ForwardEvents(on_event)],
            failure_config=tune.FailureConfig(max_failures=r.max_retries),
        ),
    )
    tuner.fit()
