"""A search's space (pure): what the sampler draws, and the settings each draw means.

Two views of one configuration:
- the sampler's parameters: one per searched setting, `n_examples` when the sweep has several
  sizes, and the mixture drawn by stick breaking (below);
- the readable values: each setting as the trial runs it (rounded: SIGNIFICANT_DIGITS), the
  size, and each pool's weight `mixture.<pool>`. Trials are keyed by the readable values, so
  two draws that round to the same configuration are one trial, trained once.

Mixture weights on the simplex by stick breaking: for pools p_1..p_k the sampler draws
u_1..u_(k-1) uniform on [0, 1] (parameters `mixture.<p_i>`), and p_i takes the share
1 - (1 - u_i)^(1 / (k - i)) of what the pools before it left. Each share is then Beta(1, k - i),
which makes the weights uniform on the simplex (Dirichlet(1, ..., 1)) with k - 1 parameters and
no constraint for the sampler to learn; with two pools u_1 is simply the first pool's weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ablate.config.schema import Config
from ablate.config.search import OBJECTIVES, space_entries

SIZE = "n_examples"
MIXTURE = "mixture."
# Readable values are rounded so that results read cleanly and a draw that lands on a finished
# configuration reuses it: settings to 3 significant digits, weights to 0.01.
SIGNIFICANT_DIGITS = 3
WEIGHT_STEP = 0.01


@dataclass(frozen=True)
class Dimension:
    name: str  # a dotted setting, "n_examples", or "mixture.<pool>" (a weight)
    kind: str  # "float" | "int" | "choice" | "weight" (a mixture weight in [0, 1])
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind == "weight":
            return "a mixture weight in [0, 1] (the weights sum to 1)"
        scale = ", log scale" if self.log else ""
        step = f", step {self.step:g}" if self.step else ""
        return f"{self.kind} in [{self.low:g}, {self.high:g}]{scale}{step}"


def natural_direction(objective: str) -> str:
    """Better is larger, but for the losses and the unscored rate (a task's accuracy: larger)."""
    return OBJECTIVES.get(objective, "maximize")


def direction(config: Config) -> str:
    search = config.search
    assert search is not None
    return search.direction or natural_direction(search.objective)


def _is_int_setting(config: Config, dotted: str) -> bool:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return isinstance(node, int) and not isinstance(node, bool)


def _setting_dimension(config: Config, name: str, spec: Any) -> Dimension:
    """Validated by search_problems first: a list of choices, or a {low, high} range."""
    if isinstance(spec, list):
        return Dimension(name, "choice", choices=tuple(spec))
    kind = "int" if _is_int_setting(config, name) else "float"
    step = spec.get("step")
    return Dimension(
        name,
        kind,
        float(spec["low"]),
        float(spec["high"]),
        bool(spec.get("log", False)),
        float(step) if step is not None else None,
    )


def dimensions(config: Config) -> list[Dimension]:
    """The readable dimensions of config.search: its settings, the size when the sweep has
    several, and one weight per mixture pool."""
    search = config.search
    assert search is not None
    space = space_entries(dict(search.space))
    dims = [_setting_dimension(config, name, spec) for name, spec in space.items()]
    if len(config.sweep.sizes) > 1:
        dims.append(Dimension(SIZE, "choice", choices=tuple(config.sweep.sizes)))
    if len(search.mixture) > 1:
        dims += [Dimension(f"{MIXTURE}{pool}", "weight", 0.0, 1.0) for pool in search.mixture]
    return dims


def sampler_distributions(config: Config) -> dict[str, Any]:
    """The sampler's parameters as Optuna distributions (the mixture as stick breaks)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for dim in dimensions(config):
        if dim.kind == "choice":
            out[dim.name] = CategoricalDistribution(list(dim.choices))
        elif dim.kind == "int":
            assert dim.low is not None and dim.high is not None
            step = int(dim.step or 1)
            out[dim.name] = IntDistribution(int(dim.low), int(dim.high), log=dim.log, step=step)
        elif dim.kind == "float":
            out[dim.name] = FloatDistribution(dim.low or 0.0, dim.high or 0.0, log=dim.log,
                                              step=dim.step)  # fmt: skip
    search = config.search
    assert search is not None
    for pool in search.mixture[:-1] if len(search.mixture) > 1 else []:
        out[f"{MIXTURE}{pool}"] = FloatDistribution(0.0, 1.0)
    return out


def probe_params(config: Config) -> dict[str, Any]:
    """One fixed point of the space (each range's low end, each first choice)."""
    return {
        name: dist.choices[0] if hasattr(dist, "choices") else dist.low
        for name, dist in sampler_distributions(config).items()
    }


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)


def _within(dim: Dimension, value: float) -> float:
    """Rounded (SIGNIFICANT_DIGITS) and kept inside the range: 1.2345e-5 must not round below
    a low end of 1.2345e-5. A stepped range's draws lie on its grid already: only float noise
    goes."""
    rounded = round(value, 12) if dim.step else _round(value)
    return min(max(rounded, dim.low if dim.low is not None else rounded),
               dim.high if dim.high is not None else rounded)  # fmt: skip


def stick_weights(pools: list[str], breaks: list[float]) -> dict[str, float]:
    """The simplex point of k - 1 uniform draws (module docstring), before rounding."""
    left, weights = 1.0, {}
    k = len(pools)
    for i, (pool, u) in enumerate(zip(pools[:-1], breaks, strict=True), start=1):
        share = 1.0 - (1.0 - min(max(u, 0.0), 1.0)) ** (1.0 / (k - i))
        weights[pool] = left * share
        left -= weights[pool]
    weights[pools[-1]] = max(left, 0.0)
    return weights


def rounded_weights(weights: dict[str, float]) -> dict[str, float]:
    """To WEIGHT_STEP, summing to exactly 1 (largest remainders get the leftover steps)."""
    units = round(1 / WEIGHT_STEP)
    raw = {p: w * units for p, w in weights.items()}
    floors = {p: math.floor(v) for p, v in raw.items()}
    leftover = units - sum(floors.values())
    for pool in sorted(raw, key=lambda p: (floors[p] - raw[p], p))[:leftover]:
        floors[pool] += 1
    return {p: floors[p] / units for p in weights}


def readable_values(config: Config, params: dict[str, Any]) -> dict[str, Any]:
    """What a draw of the sampler means: each setting rounded, the size, the weights."""
    search = config.search
    assert search is not None
    values: dict[str, Any] = {}
    for dim in dimensions(config):
        if dim.kind == "weight":
            continue
        value = params[dim.name]
        if dim.kind == "float":
            value = _within(dim, float(value))
        elif dim.kind == "int":
            value = int(value)
        values[dim.name] = value
    if len(search.mixture) > 1:
        breaks = [float(params[f"{MIXTURE}{p}"]) for p in search.mixture[:-1]]
        weights = rounded_weights(stick_weights(list(search.mixture), breaks))
        values |= {f"{MIXTURE}{pool}": w for pool, w in weights.items()}
    return values


@dataclass(frozen=True)
class Configuration:
    """A readable draw as a trial takes it."""

    overrides: dict[str, Any]  # dotted setting -> value
    weights: dict[str, float] | None  # pool -> weight (> 0 only); None: the base arm's data
    n_examples: int


def configuration(config: Config, values: dict[str, Any]) -> Configuration:
    search = config.search
    assert search is not None
    overrides = {k: v for k, v in values.items() if k != SIZE and not k.startswith(MIXTURE)}
    weights = {
        k.removeprefix(MIXTURE): float(v)
        for k, v in values.items()
        if k.startswith(MIXTURE) and float(v) > 0
    }
    if len(search.mixture) == 1:
        weights = {search.mixture[0]: 1.0}
    n = int(values.get(SIZE, config.sweep.sizes[0]))
    return Configuration(overrides, weights or None, n)


def params_fit(config: Config, params: dict[str, Any]) -> bool:
    """Whether earlier parameters still lie in this config's space (a resumed search whose
    space was edited keeps only the draws that do)."""
    dists = sampler_distributions(config)
    if set(params) != set(dists):
        return False
    try:
        return all(dist._contains(dist.to_internal_repr(params[name]))
                   for name, dist in dists.items())  # fmt: skip
    except (ValueError, TypeError):
        return False
