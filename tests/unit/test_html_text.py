"""html_to_text: what LIMA keeps (code, lists, paragraphs, link text) and drops (URLs, images)."""

from __future__ import annotations

from ablate.data.html_text import html_to_text, prose


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
    text = html_to_text("<ul><li>Run it:<pre><code>def f():\n    return 1</code></pre></li></ul>")
    assert "```\n    def f():\n        return 1\n    ```" in text


def test_empty_input() -> None:
    assert html_to_text("") == ""
    assert html_to_text("  \n") == ""


def test_prose_drops_code() -> None:
    text = html_to_text("<p>Use <code>me</code> here.</p><pre><code>I = 1</code></pre><p>End</p>")
    assert "me" not in prose(text).split()
    assert "I" not in prose(text).split()
    assert "End" in prose(text)
