"""Reading Stack Exchange dumps: finding the sites, streaming Posts.xml into SQLite, and
reading back each question with its top answer.

Memory stays bounded whatever the dump's size: the XML is parsed incrementally (each row is
dropped once stored), posts go to an on-disk SQLite file in batches, and the question/answer
join is an indexed query, so no Python structure ever holds all the posts.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from xml.parsers.expat import ErrorString

from ablate.errors import UserError

POSTS_XML = "Posts.xml"
# Stripped in this order, once each: "stackoverflow.com-Posts.7z" -> "stackoverflow",
# "math.stackexchange.com.7z" -> "math", "mathoverflow.net" -> "mathoverflow".
_NAME_SUFFIXES = (".7z", "-posts", ".stackexchange.com", ".com", ".net")
_BATCH = 5_000  # rows per executemany: large enough to amortise SQLite, small in memory
_QUESTION, _ANSWER = "1", "2"  # PostTypeId values; the rest (wiki, tag excerpts) is skipped
_REDOWNLOAD = (
    "The dump is damaged or incomplete: download the site's archive again "
    "(or extract Posts.xml from it again)."
)


@dataclass(frozen=True)
class SiteDump:
    name: str  # normalised site name, e.g. "math"
    path: Path  # the site's folder (holding Posts.xml) or its .7z archive

    @property
    def is_archive(self) -> bool:
        return self.path.suffix.lower() == ".7z"


class Candidate(NamedTuple):
    """A question and its top answer (None when nobody answered)."""

    qid: int
    qscore: int
    title: str
    body_html: str
    ascore: int | None
    answer_html: str | None


def site_name(entry: str) -> str:
    name = entry.lower()
    for suffix in _NAME_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def _posts_in(folder: Path) -> Path | None:
    # Case-insensitive: some mirrors lower-case the file names.
    return next((p for p in folder.iterdir() if p.name.lower() == "posts.xml"), None)


# A full mirror splits the biggest site into one archive per table (stackoverflow.com-Posts.7z
# is the one with posts) and has a meta site per exchange (discussion about the site itself,
# not questions to answer): neither is an exchange to sample from.
_OTHER_TABLES = re.compile(r"-(badges|comments|posthistory|postlinks|tags|users|votes)\.7z$", re.I)


def _not_a_site(entry: str) -> bool:
    return (
        bool(_OTHER_TABLES.search(entry))
        or entry.lower().startswith("meta.")
        or ".meta." in entry.lower()
    )


def find_sites(folder: Path) -> list[SiteDump]:
    """The per-site dumps in `folder`: subfolders holding Posts.xml and .7z archives."""
    if not folder.is_dir():
        raise UserError(
            f"{folder}: no such folder of Stack Exchange dumps (set the pool's "
            "path to a folder with one <site>.7z archive or <site>/Posts.xml each)."
        )
    sites: dict[str, SiteDump] = {}
    for entry in sorted(folder.iterdir()):
        is_site = entry.suffix.lower() == ".7z" or (entry.is_dir() and _posts_in(entry))
        if not is_site or _not_a_site(entry.name):
            continue
        name = site_name(entry.name)
        if name in sites:
            raise UserError(
                f"{folder}: {sites[name].path.name} and {entry.name} are both the "
                f"site '{name}'; keep one of them."
            )
        sites[name] = SiteDump(name, entry)
    if not sites:
        raise UserError(
            f"{folder}: no Stack Exchange dumps found (expected <site>.7z archives "
            "or <site>/Posts.xml folders)."
        )
    return list(sites.values())


def _archive_member(archive: Path, names: list[str]) -> str:
    member = next((n for n in names if Path(n).name.lower() == "posts.xml"), None)
    if member is None:
        raise UserError(
            f"{archive}: the archive holds no Posts.xml; download the site's "
            "full dump (the archive with Posts.xml in it)."
        )
    return member


@contextmanager
def posts_file(site: SiteDump, work_dir: Path) -> Iterator[tuple[Path, str]]:
    """(path of the site's Posts.xml, how error messages name it). An archive's Posts.xml is
    extracted into work_dir (py7zr decompresses in blocks) and removed afterwards."""
    if not site.is_archive:
        posts = _posts_in(site.path)
        assert posts is not None  # find_sites only lists folders that hold one
        yield posts, str(posts)
        return
    try:
        import py7zr
    except ImportError as exc:
        raise ImportError("reading .7z dumps needs py7zr: pip install py7zr") from exc
    dest = work_dir / f"{site.name}.extracted"
    shutil.rmtree(dest, ignore_errors=True)
    try:
        with py7zr.SevenZipFile(site.path) as archive:
            member = _archive_member(site.path, archive.getnames())
            archive.extract(path=dest, targets=[member])
    except (py7zr.exceptions.ArchiveError, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise UserError(f"{site.path}: cannot read the archive ({exc}). {_REDOWNLOAD}") from None
    try:
        yield dest / member, f"{site.path} (member {member})"
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _int(value: str | None, default: int | None = 0) -> int | None:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def rows(xml_path: Path, label: str) -> Iterator[dict[str, str]]:
    """Each <row>'s attributes, streaming. The parser decodes the UTF-8 BOM and turns the
    dumps' `&#xA;` into newlines; a malformed file is a UserError naming line and column."""
    try:
        with xml_path.open("rb") as fh:
            events = ET.iterparse(fh, events=("start", "end"))
            _, root = next(events)
            for event, elem in events:
                if event == "end" and elem.tag == "row":
                    attrib = dict(elem.attrib)
                    root.clear()  # drop the finished rows, or the tree grows with the file
                    yield attrib
    except ET.ParseError as exc:
        line, column = exc.position
        raise UserError(
            f"{label}: malformed XML at line {line}, column {column} "
            f"({ErrorString(exc.code)}). {_REDOWNLOAD}"
        ) from None
    except OSError as exc:
        raise UserError(f"{label}: cannot read the file ({exc}).") from None


class RowCount:
    """`rows` passed through unchanged, counting them as they go."""

    def __init__(self, rows: Iterable[dict[str, str]]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[dict[str, str]]:
        for row in self._rows:
            self.count += 1
            yield row


def _random_key(seed: int, site: str, qid: int) -> int:
    digest = hashlib.blake2b(
        f"ablate.se.order\x1f{seed}\x1f{site}\x1f{qid}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)  # SQLite integers are signed 64-bit


_SCHEMA = """
CREATE TABLE questions (id INTEGER PRIMARY KEY, score INT, accepted INT, title TEXT,
                        body TEXT, rkey INT);
CREATE TABLE answers (id INTEGER PRIMARY KEY, parent INT, score INT, body TEXT);
"""
# Built after loading (cheaper than maintaining them per insert); each serves one query.
_INDEXES = """
CREATE INDEX answers_top ON answers (parent, score DESC, id);
CREATE INDEX questions_top ON questions (score DESC, id);
CREATE INDEX questions_random ON questions (rkey, id);
"""


def _flush(db: sqlite3.Connection, questions: list[tuple], answers: list[tuple]) -> None:
    db.executemany("INSERT OR IGNORE INTO questions VALUES (?, ?, ?, ?, ?, ?)", questions)
    db.executemany("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?)", answers)
    questions.clear()
    answers.clear()


def load_posts(
    posts: Iterable[dict[str, str]], db_path: Path, site: str, seed: int
) -> sqlite3.Connection:
    """A fresh SQLite file at db_path holding the questions and answers of `posts`."""
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    try:
        # A scratch file rebuilt from the dump on failure: no journal, no fsync.
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA)
        _insert(db, posts, site, seed)
        db.executescript(_INDEXES)
        db.commit()
    except BaseException:  # a malformed dump (UserError) must not leave the file open
        db.close()
        raise
    return db


def _insert(db: sqlite3.Connection, posts: Iterable[dict[str, str]], site: str, seed: int) -> None:
    questions: list[tuple] = []
    answers: list[tuple] = []
    for row in posts:
        pid = _int(row.get("Id"), None)
        kind = row.get("PostTypeId")
        if pid is None:
            continue
        if kind == _QUESTION:
            questions.append(
                (
                    pid,
                    _int(row.get("Score")),
                    _int(row.get("AcceptedAnswerId"), None),
                    row.get("Title", ""),
                    row.get("Body", ""),
                    _random_key(seed, site, pid),
                )
            )
        elif kind == _ANSWER and (parent := _int(row.get("ParentId"), None)) is not None:
            answers.append((pid, parent, _int(row.get("Score")), row.get("Body", "")))
        if len(questions) + len(answers) >= _BATCH:
            _flush(db, questions, answers)
    _flush(db, questions, answers)


# The top answer: highest score, then the accepted one, then the oldest (lowest Id). The
# inner join to `p` is there because SQLite rejects outer columns in a subquery's ORDER BY.
_CANDIDATES = """
SELECT q.id, q.score, q.title, q.body, a.score, a.body
FROM questions AS q LEFT JOIN answers AS a ON a.id = (
    SELECT b.id FROM answers AS b JOIN questions AS p ON p.id = b.parent
    WHERE b.parent = q.id ORDER BY b.score DESC, b.id = p.accepted DESC, b.id LIMIT 1)
"""


def question_count(db: sqlite3.Connection) -> int:
    count: int = db.execute("SELECT count(*) FROM questions").fetchone()[0]
    return count


def candidates(db: sqlite3.Connection, top_first: bool) -> Iterator[Candidate]:
    """Every question with its top answer: highest-scoring questions first, or in the
    seeded random order fixed at load time. Rows stream from the cursor."""
    order = "ORDER BY q.score DESC, q.id" if top_first else "ORDER BY q.rkey, q.id"
    for row in db.execute(_CANDIDATES + order):
        yield Candidate(*row)
