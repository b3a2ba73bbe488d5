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
from ablate.config.shape import shape_problem
from ablate.config.validate import PluginChecks, semantic_problems
from ablate.errors import ConfigError, UserError

COMMAND_LINE = "command line"
REQUIRED = "required, but no file sets it"
# Required settings that preparing data never reads: placeholders the files may override.
NOT_NEEDED_FOR_DATA: dict[str, Any] = {
    "name": "data",
    "model": {"name_or_path": "(not needed to prepare data)"},
    "judge": {"model": "(not needed to prepare data)"},
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a sweep file that sets a value twice
    is almost always a mistake (the first one is the one the user is looking at)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first set on line {first}); keep one of them",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such file. Check the path of the sweep or experiment.")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8.") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror}).") from None
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
    merged: dict[str, Any] = {}
    for item in overrides:
        # One at a time, so the error names the override that does not parse.
        try:
            parsed = OmegaConf.to_container(OmegaConf.from_dotlist([item]))
        except (OmegaConfBaseException, yaml.YAMLError, ValueError) as exc:
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise UserError(
                f"command line: override '{item}' does not parse ({reason}); quote it for the "
                "shell and write the value as YAML, e.g. 'sweep.sizes=[8,16]'."
            ) from None
        merged = _merge_dicts(merged, parsed)  # type: ignore[arg-type]
    return merged


def _merge_dicts(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Nested update: a.b=1 then a.c=2 gives {a: {b: 1, c: 2}}; a later equal key wins."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


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


def _mapping(value: Any) -> dict[str, Any]:
    """The value when it is a mapping, else {}: a wrong shape is reported later, with its path."""
    return value if isinstance(value, dict) else {}


def resolve_relative_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    for pool in _mapping(data.get("pools")).values():
        if isinstance(pool, dict) and isinstance(pool.get("path"), str):
            pool["path"] = _absolute(pool["path"], base)
    prompts = _mapping(data.get("evaluation")).get("prompts")
    if isinstance(prompts, dict) and isinstance(prompts.get("path"), str):
        prompts["path"] = _absolute(prompts["path"], base)
    for task in _mapping(_mapping(data.get("evaluation")).get("tasks")).values():
        if isinstance(task, dict) and isinstance(task.get("path"), str):
            task["path"] = _absolute(task["path"], base)
    dialogues = _mapping(data.get("evaluation")).get("dialogues")
    if isinstance(dialogues, dict) and isinstance(dialogues.get("path"), str):
        dialogues["path"] = _absolute(dialogues["path"], base)
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


def checked_leaves(
    label: str, data: dict[str, Any]
) -> tuple[list[str], list[dict[str, Any]], set[str]]:
    """Problems of each leaf, the leaves without problems (to go on checking with), and the
    dotted paths that had a problem (later checks would only repeat them)."""
    base = OmegaConf.structured(Config)
    problems: list[str] = []
    valid = []
    bad: set[str] = set()
    for path, value in _leaves(data):
        shape = shape_problem(path, value)
        if shape is not None:
            bad.add(shape.split(":", 1)[0])
            if f"{label}: {shape}" not in problems:  # one per wrong mapping, not per leaf
                problems.append(f"{label}: {shape}")
            continue
        try:
            OmegaConf.merge(base, _nest(path, value))
            valid.append(_nest(path, value))
        except OmegaConfBaseException as exc:
            key = exc.full_key or ".".join(path)
            reason = str(exc).splitlines()[0]
            problems.append(f"{label}: {key}: {reason}")
            bad.add(".".join(path))
        except (TypeError, ValueError) as exc:  # shapes OmegaConf cannot merge, said plainly
            problems.append(f"{label}: {'.'.join(path)}: {str(exc).splitlines()[0]}")
            bad.add(".".join(path))
    return problems, valid, bad


def _follows_from(problem: str, bad: set[str]) -> bool:
    """A later problem at (or under) a path whose value was already refused."""
    path = problem.split(":", 1)[0]
    if "experiment" in bad and problem.endswith(REQUIRED):
        return True  # the experiment that would have set it was refused
    return any(path == b or path.startswith(f"{b}.") for b in bad)


def load_sources(sweep_path: Path, overrides: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The config sources in precedence order, each labelled with where it came from."""
    sweep = resolve_relative_paths(read_yaml(sweep_path), sweep_path.parent)
    command_line = resolve_relative_paths(parse_overrides(overrides), Path.cwd())
    sources: list[tuple[str, dict[str, Any]]] = []
    # An experiment named on the command line replaces the sweep's (relative to the cwd).
    experiment, base_dir = sweep.get("experiment"), sweep_path.parent
    if "experiment" in command_line:  # a wrong shape there is reported, never dropped
        experiment, base_dir = command_line["experiment"], Path.cwd()
    if isinstance(experiment, str):
        experiment_path = Path(_absolute(experiment, base_dir) or experiment)
        sweep["experiment"] = str(experiment_path)
        if "experiment" in command_line:
            command_line["experiment"] = str(experiment_path)
        base = resolve_relative_paths(read_yaml(experiment_path), experiment_path.parent)
        base.pop("experiment", None)  # one level of inheritance keeps precedence readable
        sources.append((str(experiment_path), base))
    sources.append((str(sweep_path), sweep))
    sources.append((COMMAND_LINE, command_line))
    return sources


def load_config(
    sweep_path: str | Path,
    overrides: list[str] | None = None,
    require_sweep: bool = True,
    plugins: PluginChecks | None = None,
) -> Config:
    """The validated config. require_sweep=False also accepts an experiment file (no name, no
    sweep section, no model or judge), for commands that only need its pools (`ablate data
    prepare`): only the pools are checked then."""
    sweep_path = Path(sweep_path)
    problems: list[str] = []
    valid: list[dict[str, Any]] = [] if require_sweep else [NOT_NEEDED_FOR_DATA]
    bad: set[str] = set()
    for label, data in load_sources(sweep_path, overrides or []):
        source_problems, source_valid, source_bad = checked_leaves(label, data)
        problems += source_problems
        valid += source_valid
        bad |= source_bad
    # The valid leaves still merge, so semantic problems are reported alongside type problems.
    merged = OmegaConf.merge(OmegaConf.structured(Config), *valid)
    missing = sorted(OmegaConf.missing_keys(merged))
    later = [f"{key}: {REQUIRED}" for key in missing]
    if not missing:
        config: Config = OmegaConf.to_object(merged)  # type: ignore[assignment]
        later += semantic_problems(config, require_sweep, plugins)
    problems += [p for p in later if not _follows_from(p, bad)]
    if problems:
        raise ConfigError(str(sweep_path), problems)
    return config


def config_to_yaml(config: Config) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def config_to_dict(config: Config) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(config))  # type: ignore[return-value]
