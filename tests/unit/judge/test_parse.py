"""Verdicts are read from the end of a judge's reply; no verdict is never a low score."""

from __future__ import annotations

import math

import pytest

from ablate.judge.parse import (
    NO_VERDICT,
    PARSER_VERSION,
    Verdict,
    likert_from_logprobs,
    parse_verdict,
)

REASONING = (
    "The answer is relevant. Level 2 would fit if it gave only partial information,\n"
    "and it mentions 3 steps out of 7, but it is detailed and insightful.\n"
)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        (REASONING + "5", "5"),
        (REASONING + "5\n", "5"),
        (REASONING + "Level: 5", "5"),
        (REASONING + "**5**", "5"),
        (REASONING + "**Level:** 4", "4"),
        (REASONING + "5/6", "5"),
        (REASONING + "Score: 3 out of 6.", "3"),
        (REASONING + "6.  \n\n  ", "6"),
        (REASONING + "Final rating: 2!", "2"),
        (REASONING + "Therefore, the level is 1.", "1"),
        (REASONING + "<answer>6</answer>", "6"),
        (REASONING + "[[4]]\n```", "4"),
        ("5", "5"),
    ],
)
def test_likert_reads_the_final_line(text: str, level: str) -> None:
    assert parse_verdict("likert", text) == Verdict(level, None)


def test_likert_last_verdict_wins_over_reasoning() -> None:
    text = "Level 2 describes partial answers.\nLevel: 2 would be too harsh.\n5"
    assert parse_verdict("likert", text).value == "5"


@pytest.mark.parametrize(
    "text",
    [
        REASONING + "The answer is detailed and compared with level 3 it",  # cut off mid-thought
        REASONING + "Level 4 or 5, hard to say.",  # hedged
        REASONING + "3.5",  # not a level
        REASONING + "5/10",  # another scale
        "Level 5 fits.\nI hope this grading helps.",  # verdict not on the final line
    ],
)
def test_likert_without_a_verdict_is_unscored(text: str) -> None:
    verdict = parse_verdict("likert", text)
    assert verdict.value is None
    assert verdict.reason is not None and verdict.reason.startswith(NO_VERDICT)


@pytest.mark.parametrize("text", [REASONING + "7", REASONING + "Level: 0", REASONING + "10"])
def test_likert_out_of_range_is_not_a_level(text: str) -> None:
    verdict = parse_verdict("likert", text)
    assert verdict.value is None
    assert verdict.reason is not None and "not a level 1-6" in verdict.reason


def test_truncated_reply_has_the_no_verdict_reason() -> None:
    assert parse_verdict("likert", "Let me think. The answer covers 2") == Verdict(None, NO_VERDICT)


@pytest.mark.parametrize("mode", ["likert", "pairwise", "absolute"])
@pytest.mark.parametrize("text", ["", "   \n\n ", "```\n```"])
def test_empty_reply(mode: str, text: str) -> None:
    assert parse_verdict(mode, text) == Verdict(None, "empty reply")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("A", "A"),
        ("b", "B"),
        ("Response A", "A"),
        ("[[A]]", "A"),
        ("**Response B is significantly better.**", "B"),
        ("Final verdict: [[B]]", "B"),
        ("Therefore, Assistant A is better.", "A"),
        ("The better response is B", "B"),
        ("[[A>B]]", "A"),
        ("neither", "tie"),
        ("Neither is significantly better.", "tie"),
        ("tie", "tie"),
        ("Verdict: Tie", "tie"),
        ("Both are equally good.", "tie"),
        ("[[A=B]]", "tie"),
    ],
)
def test_pairwise_phrasings(text: str, value: str) -> None:
    reply = "Response A is longer, but B answers the actual question.\n" + text
    assert parse_verdict("pairwise", reply) == Verdict(value, None)


@pytest.mark.parametrize(
    "text",
    [
        "A good answer would mention the cost.",  # "A" the article, not a verdict
        "Response A is slightly better in tone, B in content, so it is",
        "Response C",
    ],
)
def test_pairwise_without_a_verdict(text: str) -> None:
    assert parse_verdict("pairwise", "Comparing the two.\n" + text).value is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Excellent", "excellent"),
        ("PASS", "pass"),
        ("Grade: Excellent ✅", "excellent"),
        ("fail", "fail"),
        ("Grade: **Pass**.", "pass"),
        ("The response is excellent.", "excellent"),
        ("Failed", "fail"),
    ],
)
def test_absolute_phrasings(text: str, value: str) -> None:
    reply = "It would fail a strict reader but is excellent in places.\n" + text
    assert parse_verdict("absolute", reply) == Verdict(value, None)


def test_absolute_without_a_verdict() -> None:
    verdict = parse_verdict("absolute", "Excellent\nbut on reflection it is merely good")
    assert verdict == Verdict(None, NO_VERDICT)


def test_unknown_mode_is_a_bug() -> None:
    with pytest.raises(ValueError, match="ranking"):
        parse_verdict("ranking", "5")


def test_parser_version_is_recorded() -> None:
    assert isinstance(PARSER_VERSION, int)


def _position(token: str, top: dict[str, float] | None = None) -> dict:
    top_logprobs = [{"token": t, "logprob": math.log(p)} for t, p in (top or {}).items()]
    return {
        "token": token,
        "logprob": math.log((top or {}).get(token, 0.9)),
        "top_logprobs": top_logprobs,
    }


def test_logprobs_distribution_at_the_last_level() -> None:
    content = [
        _position("Level", {"Level": 1.0}),
        _position(" 2", {" 2": 0.7, " 3": 0.3}),  # a level mentioned while reasoning
        _position(" fits\n"),
        _position("5", {"5": 0.5, " 5": 0.1, "4": 0.2, "6": 0.1, "\n": 0.1}),
    ]
    dist = likert_from_logprobs(content)
    assert dist is not None
    assert list(dist) == ["1", "2", "3", "4", "5", "6"]
    # Levels renormalised over 0.9: "5" and " 5" add up, absent levels get 0.
    assert dist["5"] == pytest.approx(0.6 / 0.9)
    assert dist["4"] == pytest.approx(0.2 / 0.9)
    assert dist["6"] == pytest.approx(0.1 / 0.9)
    assert dist["1"] == dist["2"] == dist["3"] == 0.0
    assert sum(dist.values()) == pytest.approx(1.0)


def test_logprobs_skip_denominators_and_longer_numbers() -> None:
    content = [
        _position("4", {"4": 0.8, "5": 0.2}),
        _position("/"),
        _position("6", {"6": 1.0}),  # the scale, not the verdict
        _position(" out of"),
        _position(" 1"),
        _position("0"),  # "10" is not a level
    ]
    dist = likert_from_logprobs(content)
    assert dist is not None and dist["4"] == pytest.approx(0.8)


def test_logprobs_without_top_logprobs_fall_back_to_the_sampled_level() -> None:
    dist = likert_from_logprobs([{"token": "3", "logprob": -0.1, "top_logprobs": []}])
    assert dist == {"1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0, "5": 0.0, "6": 0.0}


@pytest.mark.parametrize(
    "content", [None, [], [_position("The"), _position(" answer"), _position(" 7")]]
)
def test_logprobs_without_a_level(content: list | None) -> None:
    assert likert_from_logprobs(content) is None
