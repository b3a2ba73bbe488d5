"""html_to_text: what LIMA keeps (code, lists, paragraphs, link text) and drops (URLs, images),
and html2text's artefacts that must not reach the text (escapes, indents, "* * *", ...)."""

from __future__ import annotations

import pytest

from ablate.data.sources.stackexchange.html_text import html_to_text, is_url_text, prose


def test_code_block_is_fenced_verbatim_with_entities_unescaped() -> None:
    html = ("<p>Try:</p><pre><code>if a &lt; b &amp;&amp; ok:\n    run()\n\n\n"
            "done()\n</code></pre><p>After.</p>")
    assert html_to_text(html) == (
        "Try:\n\n```\nif a < b && ok:\n    run()\n\n\ndone()\n```\n\nAfter.")


def test_inline_code_keeps_backticks() -> None:
    assert html_to_text("<p>Call <code>x.sort()</code> first.</p>") == "Call `x.sort()` first."


def test_lists_keep_bullets_and_numbers() -> None:
    text = html_to_text("<ul><li>apples</li><li>pears</li></ul><ol><li>one</li><li>two</li></ol>")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines == ["- apples", "- pears", "1. one", "2. two"]


def test_link_text_kept_and_url_dropped() -> None:
    text = html_to_text('<p>Read <a href="https://example.com/docs?x=1">the manual</a>.</p>')
    assert text == "Read the manual."
    assert "example.com" not in text


def test_image_dropped_with_its_url_and_alt_text() -> None:
    text = html_to_text('<p>Before</p><p><img src="https://i.sstatic.net/abc.png" '
                        'alt="a diagram"></p><p>After</p>')
    assert text == "Before\n\nAfter"


def test_paragraphs_kept_and_blank_runs_collapsed() -> None:
    text = html_to_text("<p>One</p>\n\n\n<p></p><p></p><p>Two<br>three</p>")
    assert text == "One\n\nTwo\nthree"


def test_entities_unescaped() -> None:
    assert html_to_text("<p>&lt;div&gt; &amp; caf&#233; &quot;q&quot;</p>") == '<div> & café "q"'


def test_code_inside_a_list_item_stays_a_block() -> None:
    # Indented to the item's text ("- " is 2 wide); the code's own indentation kept.
    text = html_to_text("<ul><li>Run it:<pre><code>def f():\n    return 1</code></pre></li></ul>")
    assert text == "- Run it:\n\n  ```\n  def f():\n      return 1\n  ```"


def test_empty_input() -> None:
    assert html_to_text("") == ""
    assert html_to_text("  \n") == ""


def test_prose_drops_code() -> None:
    text = html_to_text("<p>Use <code>me</code> here.</p><pre><code>I = 1</code></pre><p>End</p>")
    assert "me" not in prose(text).split()
    assert "I" not in prose(text).split()
    assert "End" in prose(text)


# --- A: links whose text is a URL, and bare URLs ----------------------------------------

def test_autolinked_url_goes_with_the_words_that_only_introduced_it() -> None:
    html = ('<p>Water at 90 to 96 °C extracts best.</p>\n\n<p>More details here: '
            '<a href="https://www.sca.coffee/research/brewing" rel="nofollow noreferrer">'
            'https://www.sca.coffee/research/brewing</a></p>\n')
    assert html_to_text(html) == "Water at 90 to 96 °C extracts best."


@pytest.mark.parametrize(("text", "href", "expected"), [
    ("https://x.org/a", "https://x.org/a", True),
    ("https://example.com/very/long/...", "https://example.com/very/long/path/page", True),
    ("example.com/very/long/…", "https://example.com/very/long/path/page", True),
    ("www.example.com", "http://www.example.com/", True),
    ("python.org", "https://www.python.org/", True),
    ("[1]", "https://x.org/ref", True),
    ("Node.js", "https://nodejs.org", False),
    ("the manual", "https://example.com/docs", False),
    ("ASP.NET Core docs", "https://learn.microsoft.com/aspnet", False),
    ("", "https://x.org", False)])
def test_url_text_or_prose(text: str, href: str, expected: bool) -> None:
    assert is_url_text(text, href) is expected


def test_shortened_url_display_dropped_and_prose_link_text_kept() -> None:
    html = ('<p>The <a href="https://en.wikipedia.org/wiki/Maillard_reaction" '
            'rel="nofollow noreferrer">Maillard reaction</a> browns the beans, as explained '
            'in detail by <a href="https://example.com/very/long/path/to/the/article" '
            'rel="nofollow noreferrer">https://example.com/very/long/...</a> and others.</p>')
    # "by" would dangle: it goes with the URL.
    assert html_to_text(html) == ("The Maillard reaction browns the beans, as explained in "
                                  "detail and others.")


def test_bare_urls_removed_from_prose_but_kept_in_code() -> None:
    html = ("<p>The roast chart at https://example.org/roast-chart.pdf shows the stages.</p>"
            "<p>Test it with <code>curl http://localhost:8080/brew</code>:</p>"
            "<pre><code>requests.get('https://api.example.com/v1/beans')\n</code></pre>")
    assert html_to_text(html) == (
        "The roast chart shows the stages.\n\nTest it with `curl http://localhost:8080/brew`:"
        "\n\n```\nrequests.get('https://api.example.com/v1/beans')\n```")


@pytest.mark.parametrize(("html", "expected"), [
    # a clause that only cited the URL
    ("<p>A cup holds about 95 mg of caffeine, according to https://u.org/a. It is strong.</p>",
     "A cup holds about 95 mg of caffeine. It is strong."),
    # a short parenthetical around it
    ("<p>Grind finer (see https://x.org/grind) for espresso.</p>", "Grind finer for espresso."),
    # a colon introducing it; a URL with its own brackets
    ("<p>Wikipedia has a good overview of brewing ratios: "
     "https://en.wikipedia.org/wiki/Coffee_(drink)</p>",
     "Wikipedia has a good overview of brewing ratios."),
    # a preposition left dangling
    ("<p>You can read the full study at https://x.org/study.pdf if the details matter.</p>",
     "You can read the full study if the details matter."),
    # a sentence with nothing left to say
    ("<p>Bloom the grounds first. See https://x.org/bloom for details.</p>",
     "Bloom the grounds first."),
    # a run of URLs counts as one
    ("<p>Both brewers work well: https://a.org/x, https://b.org/y and https://c.org/z</p>",
     "Both brewers work well."),
    # a heading-like line, then a list of nothing but links
    ('<p>Stir gently.</p><p>Sources:</p><ul><li>https://a.org/x</li><li><a href="https://b.org/'
     'y">https://b.org/y</a></li></ul><p>Serve hot.</p>', "Stir gently.\n\nServe hot."),
    # in a list item only what is left empty goes
    ("<ul><li>Hario V60: https://hario.jp/v60</li><li>https://x.org/only-a-link</li></ul>",
     "- Hario V60"),
    # a conjunction and a verb that only led to the URL
    ("<p>Try a burr grinder or visit www.example.com/shop today.</p>",
     "Try a burr grinder today."),
    # a label before the colon
    ("<p>Use <code>grep -E</code> to find them; docs: https://www.gnu.org/software/grep/</p>",
     "Use `grep -E` to find them."),
    # a heading whose whole section was links
    ('<p>Brew it.</p><h2>References</h2><ol><li><a href="https://a.org/1">https://a.org/1</a>'
     "</li></ol>", "Brew it."),
    # an email address is not a link
    ("<p>Write to roaster@example.com for samples.</p>",
     "Write to roaster@example.com for samples."),
])
def test_what_a_removed_url_leaves_behind_is_tidied(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


# --- B: no markdown escapes --------------------------------------------------------------

def test_no_markdown_escapes_outside_code_and_code_untouched() -> None:
    html = ("<p><strong>Yes</strong> - up to a point.</p>\n<p>1. not a list</p>\n"
            "<p>+ plus, - minus, 2*3, a_b, [x](y), #1, C:\\Users\\me, \\d+</p>\n"
            '<pre><code>path = "C:\\\\Users"  # *literal* [x]\n'
            'print(r"\\d+\\.\\d+")\n</code></pre>')
    assert html_to_text(html) == (
        "**Yes** - up to a point.\n\n1. not a list\n\n"
        "+ plus, - minus, 2*3, a_b, [x](y), #1, C:\\Users\\me, \\d+\n\n"
        '```\npath = "C:\\\\Users"  # *literal* [x]\nprint(r"\\d+\\.\\d+")\n```')


# --- C: lists start at column 0 ----------------------------------------------------------

def test_a_response_opening_with_a_list_has_no_leading_space_and_keeps_nesting() -> None:
    html = ("<ul>\n<li>Grind finer</li>\n<li>Use hotter water\n<ul>\n<li>but not boiling</li>\n"
            "</ul></li>\n</ul>\n<ol>\n<li>Weigh</li>\n<li>Pour<ul><li>slowly</li></ul></li>\n</ol>"
            "\n<p>Enjoy.</p>")
    assert html_to_text(html) == ("- Grind finer\n- Use hotter water\n  - but not boiling\n\n"
                                  "1. Weigh\n2. Pour\n   - slowly\n\nEnjoy.")


def test_a_list_items_later_paragraphs_and_lines_stay_in_the_item() -> None:
    html = ("<ol>\n<li><p>Heat the water.</p>\n<p>Let it rest a minute.</p></li>\n"
            "<li>Pour slowly<br>\nin circles.</li>\n</ol>")
    assert html_to_text(html) == (
        "1. Heat the water.\n\n   Let it rest a minute.\n\n2. Pour slowly\n   in circles.")


# --- D: <hr> ----------------------------------------------------------------------------

def test_hr_is_a_rule_only_where_it_separates_something() -> None:
    assert html_to_text("<hr><p>one</p><hr /><hr><p>two</p><hr>") == "one\n\n---\n\ntwo"
    assert "* * *" not in html_to_text("<p>a</p><hr><p>b</p>")


# --- E: other html2text artefacts --------------------------------------------------------

def test_blockquote_with_paragraphs_and_line_breaks() -> None:
    html = ("<blockquote>\n  <p>Caffeine is more soluble in hot water.<br />\n  It dissolves "
            "quickly.</p>\n  <p>Second paragraph.</p>\n</blockquote>\n\n<p>After.</p>")
    assert html_to_text(html) == ("> Caffeine is more soluble in hot water.\n> It dissolves "
                                  "quickly.\n>\n> Second paragraph.\n\nAfter.")


def test_kbd_is_plain_text() -> None:
    assert html_to_text("<p>Press <kbd>Ctrl</kbd>+<kbd>C</kbd>.</p>") == "Press Ctrl+C."


def test_superscripts_and_subscripts() -> None:
    html = ("<p>10<sup>6</sup> &gt; 2<sup>n-1</sup>, the 3<sup>rd</sup> cup, "
            "H<sub>2</sub>O.<sup>[1]</sup></p>")
    assert html_to_text(html) == "10^6 > 2^(n-1), the 3rd cup, H2O.^[1]"


def test_emphasis_markers_never_inside_code() -> None:
    html = ("<pre><code>total = <b>price</b> * <strong>qty</strong>\n</code></pre>"
            "<p>Call <code><strong>brew()</strong></code> now.</p>")
    assert html_to_text(html) == "```\ntotal = price * qty\n```\n\nCall `brew()` now."


def test_emphasis_reads_as_written() -> None:
    html = "<p><strong>No</strong>, not <em>quite</em>: <em>tamp</em> <strong>lightly</strong>.</p>"
    assert html_to_text(html) == "**No**, not *quite*: *tamp* **lightly**."


def test_table_rows() -> None:
    html = ("<table>\n<thead>\n<tr>\n<th>Method</th>\n<th>Time</th>\n</tr>\n</thead>\n<tbody>\n"
            "<tr>\n<td>Espresso</td>\n<td>25 s</td>\n</tr>\n<tr>\n<td>French press</td>\n"
            "<td><code>4 min</code></td>\n</tr>\n</tbody>\n</table>")
    assert html_to_text(html) == (
        "Method | Time\n--- | ---\nEspresso | 25 s\nFrench press | `4 min`")


def test_code_that_holds_backticks_gets_longer_delimiters() -> None:
    assert html_to_text("<p>Type <code>a`b</code> here.</p>") == "Type ``a`b`` here."
    text = html_to_text("<pre><code>```python\nx = 1\n```\n</code></pre>")
    assert text == "````\n```python\nx = 1\n```\n````"


def test_fence_after_a_paragraph_in_a_real_body_layout() -> None:
    # Real bodies have newlines between block tags; the fence still opens and closes.
    html = ('<p>Run:</p>\n\n<pre class="lang-py prettyprint-override"><code>brew(  1 )\n'
            "</code></pre>\n\n<h2>Why?</h2>\n\n<p>Because.</p>\n")
    assert html_to_text(html) == "Run:\n\n```\nbrew(  1 )\n```\n\n## Why?\n\nBecause."


def test_empty_code_and_no_break_spaces() -> None:
    assert html_to_text("<pre></pre><p>a&nbsp;&nbsp;b <code></code>.</p>") == "a b."


def test_prose_drops_code_spans_with_backticks() -> None:
    assert prose("Use ``a`b`` and `me`, I said.").split() == ["Use", "and", ",", "I", "said."]
