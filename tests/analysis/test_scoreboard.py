"""The scoreboard gathers every chapter's saved claims in book order and counts verdicts."""
from __future__ import annotations

import pytest

from fairnotes import results
from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, Claim, above, claims_dataset, scoreboard


@pytest.fixture()
def book(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: papermill_runs/one/laptop\n"
        "  - file: papermill_runs/two/laptop\n  - file: papermill_runs/three/laptop\n")
    one = claims_dataset([Claim("x", "P", "s1", "m", 0.2, above(0), lower=0.1, upper=0.3, section="The gap"),
                          Claim("y", "P", "s2", "m", 0.0, above(0), lower=-0.1, upper=0.1)], chapter="one")
    two = claims_dataset([Claim("x", "Q", "s3", "m", -0.2, above(0), lower=-0.3, upper=-0.1)], chapter="two")
    results.save(one, tmp_path / "papermill_runs" / "one" / "laptop" / "claims.nc")
    results.save(two, tmp_path / "papermill_runs" / "two" / "laptop" / "claims.nc")
    return tmp_path  # chapter "three" saved no claims: skipped


def test_collect_in_book_order_with_unique_ids(book):
    board = scoreboard.collect(book)
    assert list(board["claim"].values) == ["one/x", "one/y", "two/x"]
    assert list(board["chapter"].values) == ["one", "one", "two"]


def test_counts_per_chapter_and_total(book):
    t = scoreboard.counts(scoreboard.collect(book))
    assert t.loc["one", AGREES] == 1 and t.loc["one", CANNOT_TELL] == 1 and t.loc["two", DISAGREES] == 1
    assert t.loc["all chapters"].to_dict() == {AGREES: 1, DISAGREES: 1, CANNOT_TELL: 1, "claims": 3}


def test_html_links_each_claim_to_its_section(book):
    html = scoreboard.table_html(scoreboard.collect(book))
    assert '<a href="../one/laptop.html#the-gap">one — The gap</a>' in html
    assert '<a href="../two/laptop.html">two</a>' in html
    assert html.count("</tr>") == 4  # header + 3 claims


def test_no_claims_is_a_clear_error(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "  - file: papermill_runs/one/laptop\n")
    with pytest.raises(FileNotFoundError, match="papermill_runs/one/laptop/claims.nc"):
        scoreboard.collect(tmp_path)
