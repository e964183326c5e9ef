"""Markdown rendering: cmark-gfm's output, without the memory its Python wrapper leaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from cmarkgfm import cmark

import publisher.markdown
from publisher.markdown import render_markdown

from .conftest import REPO

TEXTS = [
    "",
    "# Title\n\nA *paragraph* with `code`, <b>raw HTML</b>, & < > and émoji 😀.\n",
    "| a | b |\n|---|:-:|\n| 1 | 2 |\n\n- one\n- two\n\n1. first\n\n> quote\n",
    "<script>alert(1)</script>\n\n[link](../rel/) ![img](/img.png) <https://un.org>\n",
    *(path.read_text(encoding="utf-8") for path in sorted((REPO / "content").rglob("*.md"))),
]


@pytest.mark.parametrize("text", TEXTS)
def test_same_html_as_cmarkgfm(text: str) -> None:
    expected = cmark.markdown_to_html_with_extensions(
        text, options=cmark.Options.CMARK_OPT_UNSAFE, extensions=["table"]
    )
    assert render_markdown(text) == expected


def _resident_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident size from /proc")
def test_rendering_many_posts_does_not_grow_memory() -> None:
    text = (
        "## Heading\n\n" + "Words & <em>more</em> [a link](/x/) words. " * 60 + "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    render_markdown(text)
    before = _resident_mib()
    for _ in range(3000):
        render_markdown(text)
    # cmarkgfm's own wrapper keeps about 90 KB per call of this text: it grows by some 270 MiB here.
    assert _resident_mib() - before < 8


def test_without_the_deallocators_the_html_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds that do not export cmark's free functions still render (and leak as cmarkgfm does)."""
    expected = [render_markdown(text) for text in TEXTS]
    monkeypatch.setattr(publisher.markdown, "_frees", None)
    assert [render_markdown(text) for text in TEXTS] == expected
