"""Load a sweep: defaults < experiment YAML < sweep YAML < command-line `key=value` overrides.

Validation happens once, here. OmegaConf's merge stops at the first bad key, so each leaf of
each source is first merged on its own to collect every problem with its dotted path; only a
clean config is merged for real (litgpt / torchtune report all problems in one error too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ablate.config.schema import Config
from ablate.config.validate import semantic_problems
from ablate.errors import ConfigError, UserError

COMMAND_LINE = "command line"


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such file. Check the path of the sweep or experiment.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"{path}: the top level must be a mapping of keys, not {type(data).__name__}"
        )
    return data


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise UserError(
                f"command line: override '{item}' is not of the form key=value "
                "(for example training.epochs=3)."
            )
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(overrides))  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise UserError(f"command line: cannot parse overrides {overrides}: {exc}") from None


def _absolute(value: str | None, base: Path) -> str | None:
    """Paths in a file are relative to that file, so a sweep works from any directory."""
    if value is None or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def _model_path(value: Any, base: Path) -> Any:
    # Only explicit relative paths are paths: "org/name" is a hub id.
    if isinstance(value, str) and value.startswith(("./", "../")):
        return _absolute(value, base)
    return value


def resolve_relative_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    for pool in (data.get("pools") or {}).values():
        if isinstance(pool, dict) and isinstance(pool.get("path"), str):
            pool["path"] = _absolute(pool["path"], base)
    prompts = (data.get("evaluation") or {}).get("prompts")
    if isinstance(prompts, dict) and isinstance(prompts.get("path"), str):
        prompts["path"] = _absolute(prompts["path"], base)
    judge = data.get("judge")
    for key in ("template", "reference_file", "cache_path"):
        if isinstance(judge, dict) and isinstance(judge.get(key), str):
            judge[key] = _absolute(judge[key], base)
    for section, key in (("model", "name_or_path"), ("judge", "model")):
        if isinstance(data.get(section), dict) and key in data[section]:
            data[section][key] = _model_path(data[section][key], base)
    return data


def _leaves(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(data, dict) and data:
        return [leaf for k, v in data.items() for leaf in _leaves(v, (*prefix, str(k)))]
    return [(prefix, data)]


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    return nested


def checked_leaves(label: str, data: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Problems of each leaf, and the leaves without problems (to go on checking with)."""
    base = OmegaConf.structured(Config)
    problems, valid = [], []
    for path, value in _leaves(data):
        try:
            OmegaConf.merge(base, _nest(path, value))
            valid.append(_nest(path, value))
        except OmegaConfBaseException as exc:
            key = exc.full_key or ".".join(path)
            reason = str(exc).splitlines()[0]
            problems.append(f"{label}: {key}: {reason}")
    return problems, valid


def load_sources(sweep_path: Path, overrides: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The config sources in precedence order, each labelled with where it came from."""
    sweep = resolve_relative_paths(read_yaml(sweep_path), sweep_path.parent)
    command_line = resolve_relative_paths(parse_overrides(overrides), Path.cwd())
    sources: list[tuple[str, dict[str, Any]]] = []
    # An experiment named on the command line replaces the sweep's (relative to the cwd).
    experiment, base_dir = sweep.get("experiment"), sweep_path.parent
    if isinstance(command_line.get("experiment"), str):
        experiment, base_dir = command_line["experiment"], Path.cwd()
    if isinstance(experiment, str):
        experiment_path = Path(_absolute(experiment, base_dir) or experiment)
        sweep["experiment"] = command_line["experiment"] = str(experiment_path)
        base = resolve_relative_paths(read_yaml(experiment_path), experiment_path.parent)
        base.pop("experiment", None)  # one level of inheritance keeps precedence readable
        sources.append((str(experiment_path), base))
    sources.append((str(sweep_path), sweep))
    sources.append((COMMAND_LINE, command_line))
    return sources


def load_config(
    sweep_path: str | Path, overrides: list[str] | None = None, require_sweep: bool = True
) -> Config:
    """The validated config. require_sweep=False also accepts an experiment file (no name, no
    sweep section), for commands that only need its pools (`ablate data prepare`)."""
    sweep_path = Path(sweep_path)
    problems: list[str] = []
    valid: list[dict[str, Any]] = [] if require_sweep else [{"name": sweep_path.stem}]
    for label, data in load_sources(sweep_path, overrides or []):
        source_problems, source_valid = checked_leaves(label, data)
        problems += source_problems
        valid += source_valid
    # The valid leaves still merge, so semantic problems are reported alongside type problems.
    merged = OmegaConf.merge(OmegaConf.structured(Config), *valid)
    missing = sorted(OmegaConf.missing_keys(merged))
    problems += [f"{key}: required, but no file sets it" for key in missing]
    if not missing:
        config: Config = OmegaConf.to_object(merged)  # type: ignore[assignment]
        problems += semantic_problems(config, require_sweep)
    if problems:
        raise ConfigError(str(sweep_path), problems)
    return config


def config_to_yaml(config: Config) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def config_to_dict(config: Config) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(config))  # type: ignore[return-value]
