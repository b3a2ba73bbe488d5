"""The Stack Exchange source: parsing real-dump quirks, the top-answer join, each LIMA rule
(one post that passes, one that fails), sampling, prompts and malformed dumps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import py7zr
import pytest

from ablate.config.schema import ExchangeSampling, PoolConfig, StackExchangeFilters
from ablate.data.build import BuildStats, Record
from ablate.data.fixtures.dumps import write_stackexchange_dump
from ablate.data.sources.stackexchange import build_stackexchange
from ablate.data.sources.stackexchange.dump import site_name
from ablate.data.sources.stackexchange.filters import (
    is_first_person,
    refers_to_other_answers,
    title_needs_body,
)
from ablate.data.sources.stackexchange.sampling import draw_order
from ablate.errors import UserError

# ~1,600 characters of neutral prose: passes every rule with default thresholds.
GOOD = "<p>" + "Magnets attract iron because the domains align with the field. " * 25 + "</p>"
TITLE = "How do magnets attract iron filings?"
ALL_OFF = StackExchangeFilters(top_questions=False, answer_score=False, answer_length=False,
                               first_person=False, other_answers=False,
                               self_contained_title=False)


def _escape(value: object) -> str:
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "&#xA;"))


def posts_xml(rows: list[dict[str, Any]], bom: bool = True) -> bytes:
    lines = [f"  <row {' '.join(f'{k}={chr(34)}{_escape(v)}{chr(34)}' for k, v in r.items())} />"
             for r in rows]
    text = '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(lines) + "\n</posts>\n"
    return ("\ufeff" if bom else "").encode() + text.encode()


def question(qid: int, title: str = TITLE, score: int = 5, **extra: Any) -> dict[str, Any]:
    return {"Id": qid, "PostTypeId": 1, "Score": score, "Title": title,
            "Body": f"<p>Question {qid} body.</p>", **extra}


def answer(aid: int, parent: int, body: str = GOOD, score: int = 20) -> dict[str, Any]:
    return {"Id": aid, "PostTypeId": 2, "ParentId": parent, "Score": score, "Body": body}


def thread(qid: int, body: str = GOOD, score: int = 20, title: str = TITLE,
           qscore: int = 5) -> list[dict[str, Any]]:
    return [question(qid, title, qscore), answer(qid + 1, qid, body, score)]


def write_site(root: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "Posts.xml").write_bytes(posts_xml(rows))
    return root / name / "Posts.xml"


def build(root: Path, work: Path, **pool_fields: Any) -> tuple[list[Record], BuildStats]:
    pool = PoolConfig(source="stackexchange", path=str(root), **pool_fields)
    stats = BuildStats()
    return list(build_stackexchange(pool, "train", stats, work, workers=1)), stats


# Per rule: (a top-answer body, score and title that fail only this rule).
FAILING: dict[str, dict[str, Any]] = {
    "answer_score": dict(score=9),
    "answer_length": dict(body="<p>Too short to teach anything.</p>"),
    "first_person": dict(body=GOOD + "<p>I think the field matters most.</p>"),
    "other_answers": dict(body=GOOD + "<p>As mentioned in the other answer, domains align.</p>"),
    "self_contained_title": dict(title="How does this work?"),
}


@pytest.mark.parametrize("rule", sorted(FAILING))
def test_each_rule_removes_the_failing_post_and_keeps_the_passing_one(tmp_path: Path,
                                                                      rule: str) -> None:
    write_site(tmp_path / "dump", "physics", thread(1) + thread(10, **FAILING[rule]))
    records, stats = build(tmp_path / "dump", tmp_path / "work")
    assert [r["id"] for r in records] == ["physics-1"]
    assert stats.removed == Counter({rule: 1})
    assert stats.seen == 2


@pytest.mark.parametrize("rule", sorted(FAILING))
def test_a_rule_switched_off_keeps_its_post(tmp_path: Path, rule: str) -> None:
    write_site(tmp_path / "dump", "physics", thread(1) + thread(10, **FAILING[rule]))
    filters = StackExchangeFilters(**{rule: False})
    records, stats = build(tmp_path / "dump", tmp_path / "work", filters=filters)
    assert sorted(r["id"] for r in records) == ["physics-1", "physics-10"]
    assert sum(stats.removed.values()) == 0
    assert rule not in stats.notes["filters_on"]


def test_no_answer_always_applies(tmp_path: Path) -> None:
    write_site(tmp_path / "dump", "physics", [*thread(1), question(10)])
    records, stats = build(tmp_path / "dump", tmp_path / "work", filters=ALL_OFF)
    assert [r["id"] for r in records] == ["physics-1"]
    assert stats.removed == Counter({"no_answer": 1})
    assert stats.notes["filters_on"] == []


def test_rules_count_the_first_failure_in_order(tmp_path: Path) -> None:
    # Low score and first person: counted once, under the earlier rule.
    bad = GOOD + "<p>In my view this works.</p>"
    write_site(tmp_path / "dump", "physics", thread(1, body=bad, score=3, title="Help"))
    _, stats = build(tmp_path / "dump", tmp_path / "work")
    assert stats.removed == Counter({"answer_score": 1})


@pytest.mark.parametrize("body", [
    GOOD + "<p>Ask me if unsure.</p>", GOOD + "<p>That is MY point.</p>",
    GOOD + "<p>I've seen this.</p>"])
def test_first_person_variants_fail(tmp_path: Path, body: str) -> None:
    write_site(tmp_path / "dump", "physics", thread(1, body=body))
    _, stats = build(tmp_path / "dump", tmp_path / "work")
    assert stats.removed == Counter({"first_person": 1})


def test_first_person_ignores_code_and_lower_case_i(tmp_path: Path) -> None:
    body = (GOOD + "<pre><code>I = eye(3)\nme = I</code></pre>"
            "<p>Loop with i and <code>my</code>.</p>")
    write_site(tmp_path / "dump", "physics", thread(1, body=body))
    records, stats = build(tmp_path / "dump", tmp_path / "work")
    assert len(records) == 1 and not stats.removed


@pytest.mark.parametrize(("text", "expected"), [
    ("I think so.", True), ("I'm sure.", True), ("Ask me.", True), ("My view.", True),
    ("That one is mine.", True), ("Use I/O buffering.", False), ("Set i to 3.", False),
    ("Item, Index and Image.", False), ("Memory and meters.", False)])
def test_first_person_heuristic(text: str, expected: bool) -> None:
    assert is_first_person(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("As mentioned earlier, x.", True), ("See the other answers.", True),
    ("The accepted  answer is wrong.", True), ("Ask on math.stackexchange.com.", True),
    ("As others have said, y.", True), ("The answer is 42.", False),
    ("Mentioned in the manual.", False)])
def test_other_answers_heuristic(text: str, expected: bool) -> None:
    assert refers_to_other_answers(text) is expected


@pytest.mark.parametrize(("title", "expected"), [
    ("What is entropy?", False), ("How do magnets attract iron?", False),
    ("Help please", True), ("Why does this fail?", True), ("Explain the following proof", True),
    ("Error in the code below", True), ("What is shown in the image?", True),
    ("Integral of x from 0 to 1...", True), ("Thistle care in winter months", False)])
def test_self_contained_title_heuristic(title: str, expected: bool) -> None:
    assert title_needs_body(title) is expected


def test_answer_length_applies_to_converted_text(tmp_path: Path) -> None:
    # 5,000 characters of URL inside one link: the HTML is long, the converted text short.
    link = '<p><a href="https://example.com/' + "x" * 5000 + '">docs</a></p>'
    long_text = "<p>" + "Domains align with the applied field. " * 120 + "</p>"  # ~4,500 chars
    write_site(tmp_path / "dump", "physics", thread(1, body=GOOD + link)
               + thread(10, body=long_text))
    records, stats = build(tmp_path / "dump", tmp_path / "work")
    assert [r["id"] for r in records] == ["physics-1"]
    assert "example.com" not in records[0]["response"]
    assert stats.removed == Counter({"answer_length": 1})


def test_top_answer_is_highest_score_then_accepted_then_lowest_id(tmp_path: Path) -> None:
    rows = [question(1, AcceptedAnswerId=4), answer(2, 1, GOOD + "<p>two</p>", 30),
            answer(3, 1, GOOD + "<p>three</p>", 50), answer(4, 1, GOOD + "<p>four</p>", 50),
            question(10), answer(11, 10, GOOD + "<p>eleven</p>", 40),
            answer(12, 10, GOOD + "<p>twelve</p>", 40)]
    write_site(tmp_path / "dump", "physics", rows)
    records, _ = build(tmp_path / "dump", tmp_path / "work", prompt_from="title")
    response = {r["id"]: r["response"] for r in records}
    assert response["physics-1"].endswith("four")  # tie at 50, accepted wins
    assert response["physics-10"].endswith("eleven")  # tie at 40, lowest Id wins


def test_bom_and_escaped_newlines(tmp_path: Path) -> None:
    body = GOOD + "<pre><code>first line\nsecond line</code></pre>"
    xml = write_site(tmp_path / "dump", "physics", thread(1, body=body))
    raw = xml.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"&#xA;" in raw
    records, _ = build(tmp_path / "dump", tmp_path / "work")
    assert "```\nfirst line\nsecond line\n```" in records[0]["response"]


def test_missing_optional_attributes(tmp_path: Path) -> None:
    rows = [{"Id": 1, "PostTypeId": 1, "Title": TITLE},  # no Score, Body, dates, tags
            {"Id": 2, "PostTypeId": 2, "ParentId": 1, "Body": GOOD},  # no Score
            {"Id": 3, "PostTypeId": 2, "Body": GOOD},  # an answer without ParentId: skipped
            {"PostTypeId": 1, "Title": TITLE},  # no Id: skipped
            {"Id": 5, "PostTypeId": 5, "Body": "<p>tag wiki</p>"}]  # neither Q nor A
    write_site(tmp_path / "dump", "physics", rows)
    records, stats = build(tmp_path / "dump", tmp_path / "work", prompt_from="body")
    assert stats.seen == 1 and stats.removed == Counter({"answer_score": 1})
    records, _ = build(tmp_path / "dump", tmp_path / "work2", prompt_from="body",
                       filters=StackExchangeFilters(answer_score=False))
    assert records[0]["prompt"] == TITLE  # no body: the title asks instead
    assert records[0]["question_score"] == 0 and records[0]["answer_score"] == 0


def test_reads_7z_archives_directly(tmp_path: Path) -> None:
    staging = tmp_path / "staging" / "Posts.xml"
    staging.parent.mkdir()
    staging.write_bytes(posts_xml(thread(1)))
    (tmp_path / "dump").mkdir()
    with py7zr.SevenZipFile(tmp_path / "dump" / "math.stackexchange.com.7z", "w") as archive:
        archive.write(staging, "Posts.xml")
    write_site(tmp_path / "dump", "mathoverflow.net", thread(1))
    records, stats = build(tmp_path / "dump", tmp_path / "work")
    assert sorted(r["id"] for r in records) == ["math-1", "mathoverflow-1"]
    assert stats.kept_by_group == Counter({"math": 1, "mathoverflow": 1})
    assert not list((tmp_path / "work").iterdir())  # extracted XML and scratch DBs removed


@pytest.mark.parametrize(("entry", "name"), [
    ("math.stackexchange.com.7z", "math"), ("mathoverflow.net", "mathoverflow"),
    ("superuser.com", "superuser"), ("stackoverflow.com-Posts.7z", "stackoverflow"),
    ("cooking.stackexchange.com", "cooking"), ("physics", "physics")])
def test_site_name_normalization(entry: str, name: str) -> None:
    assert site_name(entry) == name


def _many(root: Path, site: str, n: int, start: int = 1) -> None:
    rows: list[dict[str, Any]] = []
    for i in range(start, start + n):
        rows += thread(10 * i, qscore=i)
    write_site(root, site, rows)


def test_top_questions_first_or_seeded_random_order(tmp_path: Path) -> None:
    _many(tmp_path / "dump", "physics", 30)
    top, _ = build(tmp_path / "dump", tmp_path / "w1")
    assert [r["question_score"] for r in top] == list(range(30, 0, -1))
    off = StackExchangeFilters(top_questions=False)
    shuffled, _ = build(tmp_path / "dump", tmp_path / "w2", filters=off)
    again, _ = build(tmp_path / "dump", tmp_path / "w3", filters=off)
    other_seed, _ = build(tmp_path / "dump", tmp_path / "w4", filters=off, seed=1)
    assert shuffled == again
    assert [r["id"] for r in shuffled] != [r["id"] for r in top]
    assert [r["id"] for r in shuffled] != [r["id"] for r in other_seed]
    assert sorted(r["id"] for r in shuffled) == sorted(r["id"] for r in top)


def test_sampling_is_deterministic_and_balances_groups(tmp_path: Path) -> None:
    _many(tmp_path / "dump", "physics", 30)
    _many(tmp_path / "dump", "math", 30, start=100)
    _many(tmp_path / "dump", "cooking", 6, start=200)
    first, stats = build(tmp_path / "dump", tmp_path / "w1", size=10)
    second, _ = build(tmp_path / "dump", tmp_path / "w2", size=10)
    assert first == second
    assert Counter(r["group"] for r in first) == Counter({"stem": 5, "other": 5})
    # 66 eligible, 10 drawn: the rest is counted, so removals add up to seen - kept.
    assert stats.removed == Counter({"not_sampled": 56})
    assert stats.seen - sum(stats.kept_by_group.values()) == sum(stats.removed.values())
    everything, _ = build(tmp_path / "dump", tmp_path / "w3")
    # Other group runs out after 6 draws: the rest alternates no more, all STEM.
    assert [r["group"] for r in everything[:12]] == ["stem", "other"] * 6
    assert {r["group"] for r in everything[12:]} == {"stem"} and len(everything) == 66


def test_stem_sites_override_and_notes(tmp_path: Path) -> None:
    _many(tmp_path / "dump", "physics", 3)
    _many(tmp_path / "dump", "cooking", 3, start=10)
    sampling = ExchangeSampling(stem_sites=["cooking"])
    records, stats = build(tmp_path / "dump", tmp_path / "w", sampling=sampling)
    assert {r["site"]: r["group"] for r in records} == {"cooking": "stem", "physics": "other"}
    notes = stats.notes["sampling"]
    assert notes["eligible"] == {"cooking": 3, "physics": 3}
    assert notes["temperature"] == 3.0 and notes["shares"] == {"cooking": 1.0, "physics": 1.0}


def test_temperature_flattens_site_sizes() -> None:
    sizes = {"big": 100_000, "small": 100}
    groups = {"big": "stem", "small": "stem"}
    # Temperature 3: 1000x the size is 1000^(1/3) = 10x the draws (expected 500 vs 50).
    drawn = Counter(draw_order(sizes, groups, 550, 3.0, True, seed=0))
    assert 6 < drawn["big"] / drawn["small"] < 16
    # Temperature 1: proportional to size, the small site all but vanishes (~0.5 expected).
    assert Counter(draw_order(sizes, groups, 550, 1.0, True, seed=0))["small"] <= 5


def test_unbalanced_sampling_ignores_groups() -> None:
    sizes = {"a": 100, "b": 100, "c": 100}
    groups = {"a": "stem", "b": "stem", "c": "other"}
    drawn = Counter(draw_order(sizes, groups, 300, 3.0, False, seed=0))
    assert drawn == Counter({"a": 100, "b": 100, "c": 100})
    first = Counter(draw_order(sizes, groups, 90, 3.0, False, seed=0))
    assert 15 < first["c"] < 45  # a third of the draws, not half


@pytest.mark.parametrize("prompt_from", ["title", "body", "random"])
def test_prompt_from(tmp_path: Path, prompt_from: str) -> None:
    _many(tmp_path / "dump", "physics", 40)
    records, stats = build(tmp_path / "dump", tmp_path / "w", prompt_from=prompt_from)
    titles = sum(r["prompt"] == TITLE for r in records)
    bodies = sum(r["prompt"].startswith("Question ") for r in records)
    assert titles + bodies == 40
    expected = {"title": (40, 0), "body": (0, 40)}.get(prompt_from)
    if expected:
        assert (titles, bodies) == expected
    else:
        assert 8 < titles < 32
        again, _ = build(tmp_path / "dump", tmp_path / "w2", prompt_from=prompt_from)
        assert again == records
    assert stats.notes["prompt_from"] == prompt_from


def test_bad_prompt_from_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="prompt_from"):
        build(tmp_path, tmp_path / "w", prompt_from="answer")
    with pytest.raises(UserError, match="no such folder"):
        build(tmp_path / "missing", tmp_path / "w")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no Stack Exchange dumps"):
        build(tmp_path / "empty", tmp_path / "w")


GOOD_XML = posts_xml(thread(1))
MALFORMED = {
    "truncated": (GOOD_XML[: GOOD_XML.index(b"</posts>") - 40], "line 4"),  # in the answer
    "bad entity": (GOOD_XML.replace(b"&lt;p&gt;", b"&nbsp;", 1), "line 3"),
    "not utf-8": (GOOD_XML.replace(b"body.", "b\u00e9dy.".encode("latin-1"), 1), "line 3"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_xml_is_a_user_error_naming_file_and_line(tmp_path: Path, case: str) -> None:
    data, line = MALFORMED[case]
    (tmp_path / "dump" / "physics").mkdir(parents=True)
    (tmp_path / "dump" / "physics" / "Posts.xml").write_bytes(data)
    with pytest.raises(UserError) as err:
        build(tmp_path / "dump", tmp_path / "w")
    message = str(err.value)
    assert str(tmp_path / "dump" / "physics" / "Posts.xml") in message
    assert line in message and "column" in message and "download" in message


def test_malformed_xml_in_an_archive_names_archive_and_member(tmp_path: Path) -> None:
    staging = tmp_path / "Posts.xml"
    staging.write_bytes(MALFORMED["truncated"][0])
    (tmp_path / "dump").mkdir()
    with py7zr.SevenZipFile(tmp_path / "dump" / "math.7z", "w") as archive:
        archive.write(staging, "Posts.xml")
    with pytest.raises(UserError, match=r"math\.7z \(member Posts\.xml\): malformed XML at line 4"):
        build(tmp_path / "dump", tmp_path / "w")
    assert not list((tmp_path / "w").iterdir())


def test_damaged_archive_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "dump").mkdir()
    archive_path = tmp_path / "dump" / "math.7z"
    archive_path.write_bytes(b"not an archive")
    with pytest.raises(UserError, match=r"math\.7z: cannot read the archive"):
        build(tmp_path / "dump", tmp_path / "w")
    # Corrupt compressed data (the packed stream follows the 32-byte signature header).
    rows: list[dict[str, Any]] = []
    for i in range(1, 40):
        rows += thread(10 * i, body=GOOD + f"<p>{i}</p>")
    (tmp_path / "Posts.xml").write_bytes(posts_xml(rows))
    with py7zr.SevenZipFile(archive_path, "w") as archive:
        archive.write(tmp_path / "Posts.xml", "Posts.xml")
    data = bytearray(archive_path.read_bytes())
    data[200:300] = bytes(100)
    archive_path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"math\.7z: cannot read the archive .*download"):
        build(tmp_path / "dump", tmp_path / "w")
    assert not list((tmp_path / "w").iterdir())


def test_synthetic_dump_round_trip_exercises_every_rule(tmp_path: Path) -> None:
    counts = write_stackexchange_dump(tmp_path / "dump", sites=4, questions_per_site=50,
                                      seed=7, archive_sites=1)
    records, stats = build(tmp_path / "dump", tmp_path / "w1")
    rules = ("no_answer", "answer_score", "answer_length", "first_person", "other_answers",
             "self_contained_title")
    assert all(stats.removed[rule] >= 1 for rule in rules)
    assert stats.removed == Counter({rule: counts[rule] for rule in rules})
    assert len(records) == counts["clean"] and stats.seen == counts["questions"]
    unfiltered, stats = build(tmp_path / "dump", tmp_path / "w2", filters=ALL_OFF)
    assert stats.removed == Counter({"no_answer": counts["no_answer"]})
    assert len(unfiltered) == counts["questions"] - counts["no_answer"]


def test_worker_processes_give_the_same_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    from ablate.data.sources.stackexchange import filters as se_filters

    jobs: list[se_filters.Job] = [
        (20, GOOD, TITLE), (3, GOOD, TITLE), (None, None, TITLE),
        (20, GOOD + "<p>I agree.</p>", TITLE), (20, GOOD, "Help"), (20, "<p>short</p>", TITLE)]
    serial = se_filters.FilterRunner(StackExchangeFilters(), workers=1).verdicts(jobs)
    monkeypatch.setattr(se_filters, "PARALLEL_MIN", 1)
    runner = se_filters.FilterRunner(StackExchangeFilters(), workers=2)
    try:
        assert runner.verdicts(jobs) == serial
        assert runner._pool is not None  # the jobs did go to the workers
    finally:
        runner.close()
    assert [rule for rule, _ in serial] == [None, "answer_score", "no_answer", "first_person",
                                            "self_contained_title", "answer_length"]


# --- empty dumps: warned about, or an error when nothing at all is left -------------------

def write_empty_site(root: Path, name: str) -> Path:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "Posts.xml").write_bytes(posts_xml([]))  # a valid <posts></posts>
    return root / name / "Posts.xml"


def test_a_site_with_no_rows_is_warned_about(tmp_path: Path) -> None:
    write_site(tmp_path / "dump", "physics", thread(1))
    empty = write_empty_site(tmp_path / "dump", "coffee")
    write_site(tmp_path / "dump", "tea", [{"Id": 5, "PostTypeId": 5, "Body": "<p>wiki</p>"}])
    records, stats = build(tmp_path / "dump", tmp_path / "work")
    assert [r["id"] for r in records] == ["physics-1"]
    coffee, tea = stats.warnings
    assert coffee.startswith("site 'coffee'") and str(empty) in coffee and "no rows" in coffee
    assert tea.startswith("site 'tea'") and "1 row(s) but no questions" in tea
    assert stats.as_dict()["warnings"] == stats.warnings
    assert stats.notes["sampling"]["eligible"] == {"coffee": 0, "physics": 1, "tea": 0}


def test_dumps_with_no_question_at_all_are_a_user_error(tmp_path: Path) -> None:
    write_empty_site(tmp_path / "dump", "coffee")
    staging = tmp_path / "Posts.xml"
    staging.write_bytes(posts_xml([]))
    with py7zr.SevenZipFile(tmp_path / "dump" / "tea.stackexchange.com.7z", "w") as archive:
        archive.write(staging, "Posts.xml")
    with pytest.raises(UserError) as err:
        build(tmp_path / "dump", tmp_path / "work")
    message = str(err.value)
    assert str(tmp_path / "dump") in message and "coffee, tea" in message
    assert "no question" in message and "extracted" in message
    assert not list((tmp_path / "work").iterdir())  # scratch files removed all the same


def test_a_pool_the_filters_empty_is_built_with_a_warning(tmp_path: Path) -> None:
    write_site(tmp_path / "dump", "physics", thread(1, score=3))
    records, stats = build(tmp_path / "dump", tmp_path / "work")
    assert records == [] and stats.removed == Counter({"answer_score": 1})
    assert stats.warnings == ["the pool has 0 records: the filters removed all 1 question(s); "
                              "see the removed counts and check the filter settings (filters.*) "
                              "and the dumps."]
    _, stats = build(tmp_path / "dump", tmp_path / "work2", size=0, filters=ALL_OFF)
    assert stats.warnings == ["the pool has 0 records: size is 0."]


def test_prepared_pool_carries_the_warnings_into_manifest_and_cli(tmp_path: Path) -> None:
    from ablate.api import inspect_pool, prepare_pools_of

    write_site(tmp_path / "dump", "physics", thread(1))
    write_empty_site(tmp_path / "dump", "coffee")
    experiment = tmp_path / "pools.yaml"
    experiment.write_text(f"pools:\n  se: {{source: stackexchange, path: {tmp_path / 'dump'}}}\n")
    [prepared] = prepare_pools_of(experiment, [], tmp_path / "results")
    assert prepared.records == 1
    assert len(prepared.warnings) == 1 and prepared.warnings[0].startswith("site 'coffee'")
    shown = inspect_pool(prepared.folder)
    assert "Warnings" in shown and "site 'coffee'" in shown
