"""Content files made to hurt: deep nesting, thousands of tags, FIFOs, forged names, huge posts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import pytest

from publisher import sources
from publisher.cli import run
from publisher.errors import ContentError
from publisher.publish import publish

from .conftest import BASE_CONFIG, NOW, Site

SCRIPT = Path(sys.executable).parent / "publisher"


@pytest.mark.parametrize(
    ("name", "body", "warning"),
    [
        ("quotes.md", ">" * 100_000, "blockquotes nested deeper than 100 levels: the deeper ones left out"),
        ("divs.md", "<div>" * 100_000, "HTML nested deeper than 100 levels: "),
    ],
)
def test_deep_nesting_is_capped_with_a_warning(site: Site, name: str, body: str, warning: str) -> None:
    site.post(name, "title: Deep\ndate: 2012-01-01", body)
    started = time.perf_counter()
    report = publish(site.config, NOW)
    seconds = time.perf_counter() - started
    assert report.posts == 1 and len(report.warnings) == 1
    assert report.warnings[0].startswith(f"content/{name}: {warning}")
    assert seconds < 10, f"{seconds:.1f} s"  # a generous ceiling; before the cap: about a minute
    print(f"{name}: {len(body):,} bytes published in {seconds:.2f} s")
    content = feedparser.parse((site.feeds / "atom.xml").read_bytes()).entries[0].content[0].value
    assert content.count("<blockquote>" if name == "quotes.md" else "<div>") == 100


def test_ordinary_nesting_is_left_alone(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01", "> " * 50 + "deep\n\n" + "<p>x\n" * 300)
    report = publish(site.config, NOW)
    assert report.warnings == []
    assert (site.feeds / "atom.xml").read_text().count("&lt;blockquote&gt;") == 50


def test_tags_per_post_are_capped_with_a_warning(site: Site) -> None:
    tags = ", ".join(f"t{n}" for n in range(2000))
    site.post("many.md", f"title: Many\ndate: 2012-01-01\ntags: [{tags}]")
    report = publish(site.config, NOW)
    assert report.warnings == ["content/many.md: 2000 tags; only the first 50 are kept (tags.max_per_post)"]
    assert len(list((site.feeds / "tags").iterdir())) == 50
    entry = feedparser.parse((site.feeds / "tags/t0/atom.xml").read_bytes()).entries[0]
    assert [t.term for t in entry.tags] == [f"t{n}" for n in range(50)]
    (site.root / "config.toml").write_text(BASE_CONFIG + "\n[tags]\nmax_per_post = 3\n", encoding="utf-8")
    assert publish(site.config, NOW).warnings == [
        "content/many.md: 2000 tags; only the first 3 are kept (tags.max_per_post)"
    ]
    assert sorted(p.name for p in (site.feeds / "tags").iterdir()) == ["t0", "t1", "t2"]


def test_a_fifo_in_content_is_an_error_not_a_hang(site: Site) -> None:
    site.post("a.md", "title: A\ndate: 2012-01-01")
    os.mkfifo(site.root / "content" / "x.md")
    result = subprocess.run(
        [str(SCRIPT), "--site", str(site.root), "publish"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "error: content/x.md: not a regular file (a FIFO, socket or device); expected a Markdown file"
    )


def test_a_link_to_a_post_outside_the_site_is_published_with_a_warning(site: Site, tmp_path: Path) -> None:
    outside = Site(tmp_path / "elsewhere").post("post.md", "title: Out\ndate: 2012-01-01")
    site.post("inside.md", "title: In\ndate: 2012-01-02")
    (site.root / "content" / "link.md").symlink_to(outside)
    site.post("_kept/target.md", "title: Kept aside\ndate: 2012-01-03")  # "_": not a post by itself
    (site.root / "content" / "local.md").symlink_to("_kept/target.md")  # inside the site: no warning
    report = publish(site.config, NOW)
    assert report.posts == 3
    assert report.warnings == [f"content/link.md: a link to {outside}, outside the site folder; published"]


def test_a_link_outside_the_site_is_noted_without_proc_too(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel cannot name an open file (no /proc), the path is resolved instead."""
    outside = Site(tmp_path / "elsewhere").post("post.md", "title: Out\ndate: 2012-01-01")
    (site.root / "content" / "link.md").symlink_to(outside)
    site.post("inside.md", "title: In\ndate: 2012-01-02")
    monkeypatch.setattr(sources, "_OPEN_FILES", str(tmp_path / "no-proc"))
    report = publish(site.config, NOW)
    assert report.posts == 2
    assert report.warnings == [f"content/link.md: a link to {outside}, outside the site folder; published"]


def test_a_file_name_cannot_forge_an_error_line(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    (site.root / "content" / "a\nerror: all is well.md").write_text("no front matter\n", encoding="utf-8")
    assert run(["--site", str(site.root), "publish"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: 'content/a\\nerror: all is well.md':1: no front matter: expected a first line of '---' (YAML) "
        "or '+++' (TOML)",
        "publisher: 1 broken file(s); nothing was written",
    ]


def test_a_post_over_the_size_limit_is_refused(site: Site) -> None:
    site.post("small.md", "title: Small\ndate: 2012-01-01")
    site.post("big.md", "title: Big\ndate: 2012-01-02", "word " * 1_200_000)  # 6 MB
    with pytest.raises(ContentError) as caught:
        publish(site.config, NOW)
    assert str(caught.value) == (
        "content/big.md: 6.0 MB, over the limit of 5 MB (content.max_post_mb); split the post or raise the limit"
    )
    assert not site.feeds.exists()
    (site.root / "config.toml").write_text(
        BASE_CONFIG.replace("[feeds]", "[content]\nmax_post_mb = 10\n\n[feeds]"), encoding="utf-8"
    )
    assert publish(site.config, NOW).posts == 2
