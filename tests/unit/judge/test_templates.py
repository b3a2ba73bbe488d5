"""Chat judge templates: built-ins per mode, rendering, and user template files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablate.errors import UserError
from ablate.judge.modes import JUDGE_MODES, judge_mode
from ablate.judge.prompt import JudgeTemplate, template_fields
from ablate.judge.rubric import LIKERT_RUBRIC, LIKERT_SCALE, render_likert
from ablate.judge.templates import builtin_template, load_template

GRADING_MODES = JUDGE_MODES.names()
BUILTIN_TEMPLATES = {mode: builtin_template(mode) for mode in GRADING_MODES}

FIELDS = {"question": "Q?", "answer": "ANS", "answer_a": "AAA", "answer_b": "BBB"}


def test_one_builtin_per_mode_with_its_fields() -> None:
    assert set(BUILTIN_TEMPLATES) == set(GRADING_MODES)
    for mode, template in BUILTIN_TEMPLATES.items():
        assert template.mode == mode
        assert template.version == f"{mode}-v{judge_mode(mode).version}"
        assert sorted(template_fields(template.user)) == sorted(judge_mode(mode).fields)


def test_likert_builtin_reuses_the_rubric_scale() -> None:
    assert LIKERT_SCALE in BUILTIN_TEMPLATES["likert"].user
    assert LIKERT_SCALE in LIKERT_RUBRIC
    # The in-process rubric still renders as before.
    assert render_likert("Q?", "ANS").endswith(
        "[Answer]\nANS\n\nThink about which level fits best, "
        "then give only the level number.\nLevel:"
    )


def test_render_gives_chat_messages() -> None:
    messages = BUILTIN_TEMPLATES["pairwise"].render(**FIELDS)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "Q?" in user and user.index("AAA") < user.index("BBB")
    assert "{" not in user  # every field filled


def test_render_leaves_braces_in_field_values_alone() -> None:
    messages = BUILTIN_TEMPLATES["likert"].render(question="{answer}", answer="x = {1}")
    assert "{answer}" in messages[-1]["content"] and "x = {1}" in messages[-1]["content"]


def test_render_names_a_missing_field() -> None:
    with pytest.raises(ValueError, match="answer_b"):
        BUILTIN_TEMPLATES["pairwise"].render(question="q", answer_a="a")


def test_no_system_message_without_system_text() -> None:
    template = JudgeTemplate("likert", "t1", None, "{question} {answer}")
    assert template.render(question="q", answer="a") == [{"role": "user", "content": "q a"}]


def _write(tmp_path: Path, text: str, name: str = "judge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_yaml_template(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "mode: absolute\nversion: strict-2\nsystem: Be strict.\n"
        "user: |\n  Grade {answer} for {question}. Say Excellent, Pass or Fail. JSON: {{}}\n",
    )
    template = load_template(path, "absolute")
    assert template == JudgeTemplate(
        "absolute",
        "strict-2",
        "Be strict.",
        "Grade {answer} for {question}. Say Excellent, Pass or Fail. JSON: {{}}\n",
    )
    assert template.render(question="q", answer="a")[-1]["content"].endswith("JSON: {}\n")


def test_load_toml_template(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'mode = "pairwise"\nversion = 3\nuser = "{question} {answer_a} {answer_b}"\n',
        "judge.toml",
    )
    template = load_template(path, "pairwise")
    assert (template.version, template.system) == ("3", None)


@pytest.mark.parametrize(
    ("text", "mode", "names"),
    [
        ("mode: likert\nuser: '{question} {answer}'\n", "likert", ["version"]),
        ("mode: likert\nversion: ''\nuser: '{question} {answer}'\n", "likert", ["version"]),
        ("version: v1\nuser: '{question} {answer}'\n", "likert", ["mode"]),
        ("mode: likert\nversion: v1\nuser: '{question} {answer}'\n", "pairwise", ["mode"]),
        ("mode: likert\nversion: v1\n", "likert", ["user"]),
        ("mode: likert\nversion: v1\nuser: '{question}'\n", "likert", ["user", "{answer}"]),
        (
            "mode: likert\nversion: v1\nuser: '{question} {answer} {score}'\n",
            "likert",
            ["user", "score"],
        ),
        ("mode: likert\nversion: v1\nuser: '{question} {answer} {'\n", "likert", ["user"]),
        (
            "mode: likert\nversion: v1\nsystem: [1]\nuser: '{question} {answer}'\n",
            "likert",
            ["system"],
        ),
        (
            "mode: likert\nversion: v1\nusr: x\nuser: '{question} {answer}'\n",
            "likert",
            ["usr", "Did you mean 'user'"],
        ),
        ("- just a list\n", "likert", ["mapping"]),
        ("mode: likert\nuser: [unclosed\n", "likert", ["not valid YAML"]),
        (
            "mode: likert\nversion: v1\nuser: '{question} {answer}'\n",
            "likret",
            ["likret", "Did you mean 'likert'"],
        ),
    ],
)
def test_template_problems_name_the_file_and_key(
    tmp_path: Path, text: str, mode: str, names: list[str]
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load_template(path, mode)
    message = str(caught.value)
    assert str(path) in message
    for name in names:
        assert name in message


def test_missing_template_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such judge template file"):
        load_template(tmp_path / "absent.yaml", "likert")


def test_bad_toml_is_a_user_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "mode = \n", "judge.toml")
    with pytest.raises(UserError, match="not valid TOML"):
        load_template(path, "likert")
