"""Each scorer on right, wrong and malformed answers: a malformed one scores 0 with a reason,
never raises."""

from __future__ import annotations

import pytest

from ablate.config.tasks import SCORER_NAMES
from ablate.tasks.scorers import SCORERS, score, scorer

# --- exact_number -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("She has 12 apples.", "12"),
        ("5 + 7 = 12, so the answer is 12", "Natalia sold 5 + 7 = 12 clips.\n#### 12"),
        ("The total is 1,234 dollars.", "#### 1234"),
        ("It costs $1,234.", "#### 1,234"),
        ("The temperature fell to -5 degrees.", "-5"),
        ("That is 72.0", "72"),
        ("72", "#### 72.00"),
        ("He ran 3.5 miles.", "3.5"),
        ("Between 3-5 people, so 5", "5"),  # a hyphen is not a minus sign
    ],
)
def test_exact_number_reads_the_last_number(response: str, reference: str) -> None:
    result = score("exact_number", response, reference)
    assert result.correct and result.reason is None


@pytest.mark.parametrize(
    ("response", "reference", "read"),
    [
        ("12 apples and then 13", "12", "13"),  # the last number counts, as in GSM8K
        ("The answer is 5", "-5", "5"),
        ("72.5", "72", "72.5"),
        ("It is 1,2345.", "12345", "2345"),  # not a thousands separator: two numbers
    ],
)
def test_exact_number_wrong_answers_are_read_and_wrong(
    response: str, reference: str, read: str
) -> None:
    result = score("exact_number", response, reference)
    assert not result.correct and result.reason is None and result.extracted == read


@pytest.mark.parametrize("response", ["", "I do not know.", "twelve", "x2 and y3"])
def test_exact_number_without_a_number_scores_zero_with_a_reason(response: str) -> None:
    result = score("exact_number", response, "#### 12")
    assert not result.correct and result.reason == "no number in the response"


def test_exact_number_with_a_reference_without_a_number_says_so() -> None:
    result = score("exact_number", "12", "twelve")
    assert not result.correct and "reference" in str(result.reason)


# --- choice -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        "B",
        "B.",
        "(B)",
        "(B) because the others are wrong",
        "The answer is (B).",
        "Answer: B",
        "I first thought A, but the answer is B",
        "The correct option is B.",
        "Looking at it again, (A) is too small and (B) fits",
    ],
)
def test_choice_reads_the_chosen_letter(response: str) -> None:
    result = score("choice", response, "B")
    assert result.correct and result.extracted == "B"


@pytest.mark.parametrize("reference", ["B", "b", "(B)", " B. "])
def test_choice_reads_the_reference_letter_in_its_usual_forms(reference: str) -> None:
    assert score("choice", "The answer is B", reference).correct


def test_choice_wrong_letter_is_wrong_without_a_reason() -> None:
    result = score("choice", "The answer is (C).", "B")
    assert not result.correct and result.reason is None and result.extracted == "C"


@pytest.mark.parametrize("response", ["", "A triangle has three sides.", "I am not sure."])
def test_choice_without_a_letter_scores_zero_with_a_reason(response: str) -> None:
    result = score("choice", response, "A")
    assert not result.correct and "no choice letter" in str(result.reason)


def test_choice_with_a_reference_that_is_no_letter_says_so() -> None:
    result = score("choice", "B", "Paris")
    assert not result.correct and "not a letter" in str(result.reason)


# --- regex ----------------------------------------------------------------------------------

PATTERN = r"Final answer:\s*(\w+)"


def test_regex_compares_the_first_group_with_the_reference() -> None:
    right = score("regex", "Work... Final answer: yes", "yes", PATTERN)
    wrong = score("regex", "Work... Final answer: no", "yes", PATTERN)
    assert right.correct and right.extracted == "yes"
    assert not wrong.correct and wrong.reason is None and wrong.extracted == "no"


def test_regex_without_a_group_compares_the_whole_match() -> None:
    assert score("regex", "the code is AB-12 here", "AB-12", r"[A-Z]{2}-\d+").correct


@pytest.mark.parametrize("response", ["", "no final line at all"])
def test_regex_without_a_match_scores_zero_with_a_reason(response: str) -> None:
    result = score("regex", response, "yes", PATTERN)
    assert not result.correct and "does not match" in str(result.reason)


# --- contains -----------------------------------------------------------------------------


def test_contains_finds_the_normalised_reference() -> None:
    assert score("contains", "I believe it is   PARIS, the capital.", "Paris.").correct
    assert score("contains", "New\nYork City", "new york").correct


def test_contains_missing_reference_is_wrong_without_a_reason() -> None:
    result = score("contains", "It is Lyon.", "Paris")
    assert not result.correct and result.reason is None


@pytest.mark.parametrize(("response", "reference"), [("", "Paris"), ("Paris", " . ")])
def test_contains_with_an_empty_side_scores_zero_with_a_reason(
    response: str, reference: str
) -> None:
    result = score("contains", response, reference)
    assert not result.correct and "empty" in str(result.reason)


# --- the registry -------------------------------------------------------------------------


def test_the_registry_holds_the_names_config_checks() -> None:
    assert SCORERS.names() == SCORER_NAMES


def test_an_unknown_scorer_suggests_the_close_name() -> None:
    with pytest.raises(KeyError, match="Did you mean 'exact_number'"):
        scorer("exact_numbr")


@pytest.mark.parametrize(
    ("name", "reference", "fine"),
    [
        ("exact_number", "#### 42", True),
        ("exact_number", "forty-two", False),
        ("choice", "(C)", True),
        ("choice", "2", False),
        ("contains", "Paris", True),
        ("contains", "", False),
        ("regex", "", True),
    ],
)
def test_reference_checks(name: str, reference: str, fine: bool) -> None:
    assert (scorer(name).reference_problem(reference, None) is None) == fine
