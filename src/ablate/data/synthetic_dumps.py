"""Synthetic raw data in the public dumps' formats, for tests and benchmarks without downloads:
Stack Exchange per-site Posts.xml (folders or .7z archives) and a wikiHow-style CSV.

The Stack Exchange posts look like the real ones where parsers trip: a UTF-8 byte-order
mark, newlines escaped as `&#xA;`, entity-escaped HTML bodies (paragraphs, code, lists,
links, images), optional attributes sometimes missing, non-Q&A rows, sites of very different
sizes. A chosen share of questions carries exactly one defect, one per LIMA rule (se_filters
.RULES), so every rule has posts that must fail it and the clean posts must pass them all.
Files are written row by row: memory does not grow with the number of posts.
"""

from __future__ import annotations

import csv
import html
import random
from collections import Counter
from pathlib import Path

from ablate.data.se_filters import RULES

# (folder name, things, actions, concepts); STEM and other sites alternate so both groups
# have big and small sites. Vocabulary avoids first-person words and body references.
_SITES = (
    ("stackoverflow.com", "list|dictionary|thread pool|HTTP client|regular expression|cursor",
     "parse a date string|sort records by two keys|read a large file lazily|retry a request",
     "memory usage|error handling|thread safety|lazy evaluation|type checking"),
    ("cooking.stackexchange.com", "cast iron pan|stock pot|chef's knife|sourdough starter|oven",
     "sear a steak|thicken a sauce|proof bread dough|brown butter evenly",
     "the Maillard reaction|carryover cooking|emulsification|gluten development"),
    ("math.stackexchange.com", "matrix|series|integral|group homomorphism|metric space",
     "diagonalize a matrix|bound a series|evaluate an integral by parts|prove compactness",
     "uniform convergence|linear independence|the spectral theorem|continuity"),
    ("travel.stackexchange.com", "rail pass|transit visa|carry-on bag|hostel|layover",
     "book an open-jaw ticket|cross a land border|plan a rail trip|recover from jet lag",
     "fare rules|visa reciprocity|shoulder season|minimum connection time"),
    ("physics.stackexchange.com", "pendulum|capacitor|inclined plane|lens|spring",
     "draw a free body diagram|estimate air drag|measure a resistance|compute a torque",
     "conservation of energy|inertia|wave interference|entropy"),
    ("english.stackexchange.com", "subjunctive mood|gerund|semicolon|phrasal verb|idiom",
     "punctuate a long list|choose between two tenses|parse a garden-path sentence",
     "register|etymology|agreement|ellipsis in grammar"),
    ("superuser.com", "SSD|BIOS setting|USB hub|network adapter|display driver",
     "clone a system disk|reset a BIOS password|diagnose slow boot times|share a printer",
     "thermal throttling|partition alignment|driver signing|power management"),
    ("diy.stackexchange.com", "drywall patch|circuit breaker|faucet cartridge|joist|GFCI outlet",
     "patch a hole in drywall|replace a light switch|fix a running toilet|level a floor",
     "load-bearing walls|electrical grounding|moisture control|water pressure"),
    ("mathoverflow.net", "sheaf|spectral sequence|Lie algebra|moduli space|operad",
     "compute a cohomology group|classify the representations|bound the growth rate",
     "functoriality|descent|rigidity|transversality"),
    ("gaming.stackexchange.com", "save file|controller|skill tree|speedrun route|mod loader",
     "transfer a save file|unlock the hidden ending|farm rare items|reduce input lag",
     "frame timing|difficulty scaling|loot tables|game balance"),
)
_SENTENCES = (
    "{Concept} matters whenever you {action}.",
    "Start with the {thing}, because {concept} usually explains the behaviour.",
    "A common approach is to {action} first and then measure the result.",
    "The {thing} and the {thing2} interact through {concept}.",
    "In practice, {concept} is easiest to see in a small example — try it on paper first.",
    "Keep the {thing} simple until the basics work reliably.",
    "Most surprises come from ignoring {concept2} at the start.",
    "Note that {concept} changes once the {thing2} grows beyond a few items.",
)
_TITLES = ("How can one {action} without trouble?", "Why does {concept} affect the {thing}?",
           "What is the difference between a {thing} and a {thing2}?",
           "When should {concept} be preferred over {concept2}?")
# Titles that need their body: one per heuristic of se_filters.title_needs_body.
_BAD_TITLES = ("Help", "Strange behaviour", "Why does this {thing} fail?",
               "What is wrong with the following {thing}?", "{Thing} question about...")
_FIRST_PERSON = ("In my experience, {concept} is what matters most.",
                 "I would {action} before anything else.", "Trust me, {concept} is the key.")
_OTHER_ANSWERS = ("As mentioned in the other answer, {concept} matters.",
                  "The accepted answer misses {concept2}.",
                  "This is a common topic on Stack Exchange, see {concept}.")
_CODE = ("me = load_{word}(path)\nif me is None:\n    raise ValueError(\"missing\")",
         "I = eye(3)  # identity\nresult = I @ x if x.shape[0] > 2 else x & mask",
         "for (int i = 0; i < n && ok; i++) {\n    total += values[i];\n}")
_LICENSE = ("CC BY-SA 2.5", "CC BY-SA 3.0", "CC BY-SA 4.0")
# Chained str.replace: ~10x faster than str.translate with multi-character replacements.
_ATTR_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"),
                 ("\n", "&#xA;"), ("\r", "&#xD;"))


def _attr(value: object) -> str:
    text = str(value)
    for char, escape in _ATTR_ESCAPES:
        text = text.replace(char, escape)
    return text


class _Site:
    """Vocabulary picks and HTML pieces for one site, from its own seeded RNG."""

    def __init__(self, spec: tuple[str, str, str, str], rng: random.Random) -> None:
        self.rng = rng
        self.things, self.actions, self.concepts = (part.split("|") for part in spec[1:])

    def _pair(self, words: list[str]) -> tuple[str, str]:
        # Two distinct words; cheaper than rng.sample, which dominated the writing time.
        i = self.rng.randrange(len(words))
        return words[i], words[(i + 1 + self.rng.randrange(len(words) - 1)) % len(words)]

    def slots(self) -> dict[str, str]:
        thing, thing2 = self._pair(self.things)
        concept, concept2 = self._pair(self.concepts)
        return {"thing": thing, "thing2": thing2, "Thing": thing[:1].upper() + thing[1:],
                "concept": concept, "Concept": concept[:1].upper() + concept[1:],
                "concept2": concept2, "action": self.rng.choice(self.actions)}

    def paragraph(self) -> tuple[str, int]:
        """(HTML block, approximate length of its visible text). One set of slots per
        block keeps a paragraph on one subject (and the writer fast)."""
        rng, s = self.rng, self.slots()
        kind = rng.random()
        if kind < 0.15:
            items = [rng.choice(_SENTENCES).format(**s) for _ in range(3)]
            tag = rng.choice(("ul", "ol"))
            body = "".join(f"<li>{html.escape(x)}</li>" for x in items)
            return f"<{tag}>{body}</{tag}>", sum(len(x) + 6 for x in items)
        if kind < 0.25:
            code = rng.choice(_CODE).replace("{word}", s["thing"].split()[0].lower())
            return f"<pre><code>{html.escape(code)}</code></pre>", len(code) + 8
        if kind < 0.32:
            img = f'<img src="https://i.sstatic.net/{rng.randrange(16**5):05x}.png" alt="plot">'
            return f"<p>{img}</p>", 0
        text = " ".join(rng.choice(_SENTENCES).format(**s) for _ in range(3))
        if rng.random() < 0.3:
            url = f"https://docs.example.org/{rng.randrange(10**6)}"
            link = f'<a href="{url}">{s["thing"]} notes</a>'
            return f"<p>{html.escape(text)} See the {link}.</p>", len(text) + len(s["thing"]) + 15
        return f"<p>{html.escape(text)}</p>", len(text)

    def body(self, low: int, high: int, extra: str = "") -> str:
        """Paragraphs until the visible text reaches a length drawn from [low, high]."""
        target = self.rng.randint(low, high)
        parts: list[str] = []
        size = 0
        while size < target:
            block, n = self.paragraph()
            if parts and size + n > high:  # overshooting would leave the length band
                break
            parts.append(block)
            size += n
        if extra:
            parts.insert(self.rng.randrange(len(parts) + 1), f"<p>{html.escape(extra)}</p>")
        return "\n".join(parts)


def _date(rng: random.Random) -> str:
    # One draw split into fields: 2009-2023, 12 months of 28 days, to the millisecond.
    rest, ms = divmod(rng.randrange(15 * 12 * 28 * 86_400_000), 1000)
    rest, sec = divmod(rest, 60)
    rest, minute = divmod(rest, 60)
    rest, hour = divmod(rest, 24)
    rest, day = divmod(rest, 28)
    year, month = divmod(rest, 12)
    return (f"{2009 + year}-{month + 1:02d}-{day + 1:02d}T{hour:02d}:{minute:02d}:{sec:02d}"
            f".{ms:03d}")


def _row(attrs: dict[str, object]) -> str:
    # Optional attributes set to None are left out, as real dumps leave them out.
    return "  <row " + " ".join(
        f'{k}="{_attr(v)}"' for k, v in attrs.items() if v is not None) + " />\n"


def _maybe(rng: random.Random, value: object, p_missing: float = 0.1) -> object:
    return None if rng.random() < p_missing else value


def _answer_body(site: _Site, fate: str) -> str:
    rng, s = site.rng, site.slots()
    if fate == "answer_length":  # too short or too long for LIMA's 1,200-4,096 characters
        return site.body(150, 800) if rng.random() < 0.5 else site.body(4800, 6500)
    extra = {"first_person": _FIRST_PERSON, "other_answers": _OTHER_ANSWERS}.get(fate)
    return site.body(1500, 3300, rng.choice(extra).format(**s) if extra else "")


def _question(site: _Site, qid: int, fate: str, n_answers: int, accepted: int | None) -> str:
    rng, s = site.rng, site.slots()
    bad = fate == "self_contained_title"
    title = rng.choice(_BAD_TITLES if bad else _TITLES).format(**s)
    body = (f"<p>I am trying to {s['action']} with a {s['thing']}, but {s['concept']} gets "
            f"in the way.</p>\n" + (site.paragraph()[0] if rng.random() < 0.5 else "")
            + f"\n<p>Any pointers on {s['concept2']}?</p>")
    return _row({"Id": qid, "PostTypeId": 1, "AcceptedAnswerId": accepted,
                 "CreationDate": _date(rng), "Score": rng.randint(-2, 300),
                 "ViewCount": _maybe(rng, rng.randint(10, 90_000)), "Body": body,
                 "OwnerUserId": _maybe(rng, rng.randint(1, 10**6)),
                 "LastActivityDate": _date(rng), "Title": title,
                 "Tags": _maybe(rng, f"<{s['thing'].split()[0].lower()}><{site.things[0]}>"),
                 "AnswerCount": n_answers, "CommentCount": _maybe(rng, rng.randint(0, 9)),
                 "ContentLicense": rng.choice(_LICENSE)})


def _thread(site: _Site, qid: int, fate: str, answers_per_question: int) -> list[str]:
    """A question and its answers (Ids qid, qid+1, ...). The top answer carries the fate;
    the others score strictly lower, so the join must pick the right one, and half of them
    are written in the first person."""
    rng = site.rng
    n = 0 if fate == "no_answer" else rng.randint(1, 2 * answers_per_question - 1)
    top_score = rng.randint(-2, 9) if fate == "answer_score" else 10 + int(rng.expovariate(0.03))
    top = rng.randrange(n) if n else -1
    roll = rng.random()
    accepted = None if top < 0 or roll > 0.7 else qid + 1 + (top if roll < 0.6 else 0)
    rows = [_question(site, qid, fate, n, accepted)]
    for k in range(n):
        is_top = k == top
        body = (_answer_body(site, fate) if is_top else
                site.body(100, 700, rng.choice(_FIRST_PERSON).format(**site.slots())
                          if rng.random() < 0.5 else ""))
        rows.append(_row({"Id": qid + 1 + k, "PostTypeId": 2, "ParentId": qid,
                          "CreationDate": _date(rng),
                          "Score": top_score if is_top else rng.randint(-3, top_score - 1),
                          "Body": body, "OwnerUserId": _maybe(rng, rng.randint(1, 10**6)),
                          "LastActivityDate": _date(rng),
                          "CommentCount": _maybe(rng, rng.randint(0, 5), 0.3),
                          "ContentLicense": rng.choice(_LICENSE)}))
    return rows


def _write_posts(path: Path, name: str, spec: tuple[str, str, str, str], questions: int,
                 seed: int, answers_per_question: int, defect_rate: float,
                 counts: Counter[str]) -> None:
    site = _Site(spec, random.Random(f"ablate.dump\x1f{seed}\x1f{name}"))
    rng, next_id = site.rng, 1
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write('\ufeff<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        for i in range(questions):
            fate = rng.choice(RULES) if rng.random() < defect_rate else "clean"
            rows = _thread(site, next_id, fate, answers_per_question)
            fh.writelines(rows)
            counts.update({fate: 1, "questions": 1, "answers": len(rows) - 1})
            next_id += len(rows)
            if i % 50 == 0:  # a tag wiki excerpt: neither question nor answer, to be skipped
                fh.write(_row({"Id": next_id, "PostTypeId": 4, "CreationDate": _date(rng),
                               "Score": 0, "Body": "<p>Tag usage guidance.</p>"}))
                counts["other_posts"] += 1
                next_id += 1
        fh.write("</posts>\n")


def _archive(folder: Path, name: str, posts: Path) -> None:
    try:
        import py7zr
    except ImportError as exc:
        raise ImportError("writing .7z dumps needs py7zr: pip install py7zr") from exc
    # LZMA2 at preset 1: real dumps use stronger settings, but reading is what is tested.
    with py7zr.SevenZipFile(folder / f"{name}.7z", "w",
                            filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as archive:
        archive.write(posts, "Posts.xml")
    posts.unlink()


def _site_sizes(sites: int, questions_per_site: int) -> list[int]:
    # Halving sizes: with 8 sites the largest is 128x the smallest, like the real network.
    weights = [0.5**i for i in range(sites)]
    total = sites * questions_per_site
    return [max(1, round(total * w / sum(weights))) for w in weights]


def write_stackexchange_dump(folder: Path, sites: int, questions_per_site: int, seed: int,
                             answers_per_question: int = 3, archive_sites: int = 0,
                             defect_rate: float = 0.4) -> dict[str, int]:
    """Per-site dumps in `folder`: the first `archive_sites` sites (the largest) as
    <site>.7z archives, the rest as <site>/Posts.xml. questions_per_site is the average;
    a share `defect_rate` of questions fails exactly one rule, evenly spread over RULES.

    Returns counts: sites, archives, questions, answers, other_posts, posts, "clean", and
    per rule the questions made to fail it (what the builder must remove, all switches on)."""
    if sites < 1 or questions_per_site < 1 or answers_per_question < 1:
        raise ValueError("sites, questions_per_site and answers_per_question must be >= 1")
    folder.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter({rule: 0 for rule in ("clean", *RULES)})
    for i, size in enumerate(_site_sizes(sites, questions_per_site)):
        spec = _SITES[i % len(_SITES)]
        name = spec[0] if i < len(_SITES) else f"site{i}.stackexchange.com"
        site_dir = folder / (f"{name}.tmp" if i < archive_sites else name)
        site_dir.mkdir(parents=True, exist_ok=True)
        _write_posts(site_dir / "Posts.xml", name, spec, size, seed, answers_per_question,
                     defect_rate, counts)
        if i < archive_sites:
            _archive(folder, name, site_dir / "Posts.xml")
            site_dir.rmdir()
            counts["archives"] += 1
    counts["sites"] = sites
    counts["posts"] = counts["questions"] + counts["answers"] + counts["other_posts"]
    return dict(counts)


# wikiHow's 19 top-level categories, the ones LIMA samples uniformly.
WIKIHOW_CATEGORIES = (
    "Arts and Entertainment", "Cars & Other Vehicles", "Computers and Electronics",
    "Education and Communications", "Family Life", "Finance and Business",
    "Food and Entertaining", "Health", "Hobbies and Crafts", "Holidays and Traditions",
    "Home and Garden", "Personal Care and Style", "Pets and Animals",
    "Philosophy and Religion", "Relationships", "Sports and Fitness", "Travel", "Work World",
    "Youth",
)
_HOWTO_VERBS = ("Clean", "Organize", "Fix", "Choose", "Plan", "Start", "Improve", "Build")
_HOWTO_OBJECTS = ("a Small Garden", "a Budget", "a Bicycle Chain", "a Study Schedule",
                  "a Birthday Party", "a Resume", "a Fish Tank", "a Bookshelf", "a Morning Run")
_STEP_TEXT = ("Gather everything before starting, so nothing interrupts the work.",
              "Work in short sessions and check progress after each one.",
              "Ask for help when a step takes much longer than expected.",
              "Write down what worked, because the next attempt will go faster.",
              "Keep the area tidy; clutter hides small mistakes.")


def _wikihow_text(rng: random.Random, title: str) -> str:
    topic = title.removeprefix("How to ").rsplit(" (", 1)[0].lower()
    opening = (f"This article explains how to {topic}." if rng.random() < 0.4
               else f"Learning to {topic} takes a little patience.")
    steps = []
    for n in range(1, rng.randint(4, 9)):
        step = f"{n}. {rng.choice(_STEP_TEXT)}"
        roll = rng.random()
        if roll < 0.15:  # the media forms the builder must prune
            step += f" ![Step {n}](https://www.wikihow.com/images/{rng.randrange(10**6)}.jpg)"
        elif roll < 0.25:
            step += f' <img src="https://www.wikihow.com/images/{rng.randrange(10**6)}.jpg">'
        elif roll < 0.35:
            step += " See [related guide](https://www.wikihow.com/Related) for more."
        elif roll < 0.4:
            step += ' Read <a href="https://www.wikihow.com/Other">another guide</a> too.'
        steps.append(step)
    sections = [opening, "## Steps", "\n".join(steps)]
    if rng.random() < 0.5:
        sections += ["## Tips", f"- {rng.choice(_STEP_TEXT)}"]
    if rng.random() < 0.3:
        sections += ["## Things You'll Need", "- Patience\n- A notebook"]
    return "\n\n".join(sections)


def write_wikihow_csv(path: Path, articles: int, seed: int, categories: int = 19) -> int:
    """A wikiHow-style CSV (columns title, text, category) with `articles` rows spread
    unevenly over `categories` categories (so uniform-category sampling matters); the
    bodies sometimes open with "This article..." and hold markdown or HTML links and
    images. Returns the number of rows written."""
    if articles < 0 or categories < 1:
        raise ValueError("articles must be >= 0 and categories >= 1")
    names = [WIKIHOW_CATEGORIES[i] if i < len(WIKIHOW_CATEGORIES) else f"Category {i + 1}"
             for i in range(categories)]
    weights = [1.0 / (i + 1) for i in range(categories)]  # Zipf-like category sizes
    rng = random.Random(f"ablate.wikihow\x1f{seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("title", "text", "category"))
        for i in range(articles):
            # The number keeps titles unique, as wikiHow's are, whatever `articles` is.
            title = (f"How to {rng.choice(_HOWTO_VERBS)} {rng.choice(_HOWTO_OBJECTS)}"
                     f" ({i + 1})")
            category = rng.choices(names, weights=weights)[0]
            writer.writerow((title, _wikihow_text(rng, title), category))
    return articles
