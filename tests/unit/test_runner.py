"""The runner's resource arithmetic (pure: Ray is imported with the module but never started)."""

from __future__ import annotations

import pytest

from ablate.config.schema import ResourcesConfig
from ablate.runner import concurrency, resource_problems


def _res(cpus: float = 1.0, gpus: float = 0.0, cap: int = 0) -> ResourcesConfig:
    return ResourcesConfig(cpus_per_trial=cpus, gpus_per_trial=gpus, max_concurrent_trials=cap)


def test_no_problems_when_a_trial_fits() -> None:
    assert resource_problems({"CPU": 8.0, "GPU": 1.0}, _res(cpus=4, gpus=1)) == []
    assert resource_problems({"CPU": 2.0}, _res(cpus=2)) == []


def test_too_few_cpus_names_the_setting_and_the_cluster() -> None:
    [problem] = resource_problems({"CPU": 2.0}, _res(cpus=4))
    assert "resources.cpus_per_trial=4" in problem
    assert "2 CPUs" in problem


def test_too_few_gpus_names_the_setting_and_the_cpu_fallback() -> None:
    [problem] = resource_problems({"CPU": 8.0}, _res(gpus=1))
    assert "resources.gpus_per_trial=1" in problem
    assert "0 GPUs" in problem
    assert "resources.gpus_per_trial=0" in problem  # what to do about it


def test_both_problems_are_reported_at_once() -> None:
    problems = resource_problems({"CPU": 1.0, "GPU": 1.0}, _res(cpus=2, gpus=2))
    assert len(problems) == 2
    assert "cpus_per_trial" in problems[0] and "gpus_per_trial" in problems[1]


def test_an_empty_cluster_is_a_problem() -> None:
    assert len(resource_problems({}, _res())) == 1


@pytest.mark.parametrize(
    ("cluster", "resources", "expected"),
    [
        ({"CPU": 16.0}, _res(cpus=4), 4),  # CPU fit
        ({"CPU": 16.0}, _res(cpus=3), 5),  # rounded down
        ({"CPU": 16.0, "GPU": 2.0}, _res(cpus=1, gpus=1), 2),  # GPU fit is tighter
        ({"CPU": 4.0, "GPU": 8.0}, _res(cpus=2, gpus=1), 2),  # CPU fit is tighter
        ({"CPU": 16.0, "GPU": 1.0}, _res(cpus=1, gpus=0.5), 2),  # GPU sharing
        ({"CPU": 16.0}, _res(cpus=1, cap=3), 3),  # the cap is tighter
        ({"CPU": 2.0}, _res(cpus=1, cap=10), 2),  # the cap is a maximum, not a target
        ({"CPU": 16.0, "GPU": 4.0}, _res(cpus=1, gpus=0), 16),  # GPUs ignored for CPU trials
        ({"CPU": 1.0}, _res(cpus=4), 1),  # at least one
        ({"CPU": 8.0}, _res(cpus=1, gpus=1), 1),  # no GPU at all: still at least one
        ({}, _res(), 1),
    ],
)
def test_concurrency(cluster: dict[str, float], resources: ResourcesConfig, expected: int) -> None:
    assert concurrency(cluster, resources) == expected


@pytest.mark.parametrize(("gpus_per_trial", "expected"), [(0.25, 4), (0.2, 5), (0.1, 10)])
def test_concurrency_with_fractional_gpus_counts_every_trial_that_fits(
    gpus_per_trial: float, expected: int
) -> None:
    # Ray packs 5 trials of 0.2 GPU on one GPU (it does resource arithmetic in fixed point);
    # float floor division says 1.0 // 0.2 == 4.0 and 1.0 // 0.1 == 9.0.
    cluster = {"CPU": 64.0, "GPU": 1.0}
    assert concurrency(cluster, _res(cpus=1, gpus=gpus_per_trial)) == expected
