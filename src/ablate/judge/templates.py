"""Chat prompts for an API judge: a mode's built-in one, or a user's template file in its place.

A template's version is part of the judge cache key: a user who edits the text of their
template file must change its declared version, or old cached replies would be reused.
The built-in templates live with their modes (ablate.judge.modes), versioned by the mode's
version, so one bump invalidates both the in-process rubric and the chat template of a mode.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from ablate.errors import UserError
from ablate.judge.prompt import JudgeTemplate, template_fields
from ablate.registry import suggest

TEMPLATE_KEYS = ("mode", "version", "system", "user")


def builtin_template(mode: str) -> JudgeTemplate:
    """A mode's own chat template (ablate.judge.modes)."""
    from ablate.judge.modes import judge_mode

    return judge_mode(mode).template()


def load_template(path: Path, mode: str) -> JudgeTemplate:
    """A user's template file (YAML, or TOML by its .toml suffix) for grading `mode`."""
    from ablate.judge.modes import JUDGE_MODES

    path = Path(path)
    problem = JUDGE_MODES.problem(mode)
    if problem:
        raise UserError(f"{path}: {problem}")
    data = _read_mapping(path)
    unknown = sorted(set(data) - set(TEMPLATE_KEYS))
    if unknown:
        raise UserError(
            f"{path}: unknown key '{unknown[0]}' (allowed: {', '.join(TEMPLATE_KEYS)})."
            f"{suggest(unknown[0], list(TEMPLATE_KEYS))}"
        )
    _check_mode(path, data.get("mode"), mode)
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise UserError(f"{path}: key 'system' must be text (or be left out).")
    user = data.get("user")
    if not isinstance(user, str) or not user.strip():
        raise UserError(f"{path}: key 'user' must be the (non-empty) text of the user message.")
    _check_fields(path, user, mode)
    return JudgeTemplate(mode, _version(path, data.get("version")), system or None, user)


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such judge template file. Check judge.template.")
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8.") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise UserError(f"{path}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with keys {', '.join(TEMPLATE_KEYS)}.")
    return data


def _check_mode(path: Path, declared: Any, mode: str) -> None:
    # Required so that a pairwise template can never silently grade a likert run.
    if declared is None:
        raise UserError(f"{path}: key 'mode' is missing; add 'mode: {mode}'.")
    if declared != mode:
        raise UserError(
            f"{path}: key 'mode' is {declared!r} but the judge grades in mode '{mode}'; "
            "use a template written for this mode."
        )


def _version(path: Path, version: Any) -> str:
    # The version is what invalidates cached replies when the text changes, so no default.
    if version is None:
        raise UserError(
            f"{path}: key 'version' is missing; declare one (e.g. 'version: my-{path.stem}-1') "
            "and change it whenever you edit the text, so cached judge replies are not reused."
        )
    if isinstance(version, bool) or not isinstance(version, str | int) or not str(version):
        raise UserError(f"{path}: key 'version' must be a non-empty string or integer.")
    return str(version)


def _check_fields(path: Path, user: str, mode: str) -> None:
    try:
        used = template_fields(user)
    except ValueError as exc:
        raise UserError(
            f"{path}: key 'user' is not a valid format text ({exc}); write literal braces "
            "as '{{' and '}}'."
        ) from None
    from ablate.judge.modes import judge_mode

    needed = judge_mode(mode).fields
    for name in used:
        if name not in needed:
            raise UserError(
                f"{path}: key 'user' uses unknown field '{{{name}}}'; mode '{mode}' offers "
                f"{', '.join('{' + n + '}' for n in needed)} (write literal braces as "
                "'{{' and '}}')."
            )
    missing = [name for name in needed if name not in used]
    if missing:
        raise UserError(
            f"{path}: key 'user' must use field(s) {', '.join('{' + n + '}' for n in missing)} "
            f"for mode '{mode}'."
        )
