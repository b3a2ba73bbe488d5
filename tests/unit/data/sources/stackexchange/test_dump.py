"""Finding the sites in a Stack Exchange dump folder."""

from __future__ import annotations

from pathlib import Path

from ablate.data.sources.stackexchange.dump import find_sites


def test_a_full_mirror_keeps_posts_archives_and_skips_tables_and_meta_sites(tmp_path: Path) -> None:
    for archive in (
        "stackoverflow.com-Posts.7z",
        "stackoverflow.com-Comments.7z",
        "stackoverflow.com-Users.7z",
        "math.meta.stackexchange.com.7z",
        "meta.stackexchange.com.7z",
        "math.stackexchange.com.7z",
    ):
        (tmp_path / archive).write_bytes(b"")
    assert sorted(s.name for s in find_sites(tmp_path)) == ["math", "stackoverflow"]
