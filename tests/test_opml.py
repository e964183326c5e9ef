"""OPML 2.0: feeds/feeds.opml lists every tag and author feed, is written only when its bytes
change and removed when switched off; the web app's OPML of ticked tags uses the same builder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from publisher.publish import publish
from publisher.web import create_app

from .conftest import BASE_CONFIG, NOW, Site

OPML_ON = BASE_CONFIG.replace("[feeds]\n", '[feeds]\nformats = ["rss", "atom"]\nopml = true\n')
FEEDS = "https://news.example.org/blog/feeds/"
PAGES = "https://news.example.org/blog/"


def _site(root: Path, config: str = OPML_ON) -> Site:
    site = Site(root, config)
    site.post("a.md", "title: A\ndate: 2012-01-01 10:00\ntags: [ATT, Libya & Co]\nauthor: Ann")
    site.post("b.md", "title: B\ndate: 2012-01-02 10:00\ntags: [ATT]\nauthor: Bob")
    return site


def _outlines(data: bytes) -> list[dict[str, str]]:
    root = ET.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title")
    return [dict(outline.attrib) for outline in root.iterfind("body/outline")]


def _outline(kind: str, slug: str, name: str) -> dict[str, str]:
    return {
        "type": "rss",
        "text": f"Test Site: {name}",
        "title": f"Test Site: {name}",
        "xmlUrl": f"{FEEDS}{kind}/{slug}/atom.xml",  # the first format in registry order
        "htmlUrl": f"{PAGES}{kind}/{slug}/",
    }


def test_feeds_opml_has_one_outline_per_tag_and_author_feed(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    assert "feeds.opml" in publish(site.config, NOW).written
    assert _outlines((site.feeds / "feeds.opml").read_bytes()) == [
        _outline("tags", "att", "ATT"),
        _outline("tags", "libya-co", "Libya & Co"),
        _outline("authors", "ann", "Ann"),
        _outline("authors", "bob", "Bob"),
    ]


def test_feeds_opml_is_rewritten_only_when_its_bytes_change_and_is_deterministic(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    publish(site.config, NOW)
    path = site.feeds / "feeds.opml"
    first, stat = path.read_bytes(), path.stat()
    site.post("c.md", "title: C\ndate: 2012-01-03 10:00\ntags: [ATT]\nauthor: Ann")  # no new tag or author
    report = publish(site.config, NOW)
    assert report.written and "feeds.opml" not in report.written
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    site.post("d.md", "title: D\ndate: 2012-01-04 10:00\ntags: [UNPoA]\nauthor: Ann")
    assert "feeds.opml" in publish(site.config, NOW).written
    assert _outline("tags", "unpoa", "UNPoA") in _outlines(path.read_bytes())
    (site.root / "content/d.md").unlink()
    publish(site.config, NOW)
    assert path.read_bytes() == first
    other = _site(tmp_path / "other")  # the same posts elsewhere, written afresh: the same bytes
    publish(other.config, NOW)
    assert (other.feeds / "feeds.opml").read_bytes() == first


def test_a_deleted_feeds_opml_is_written_again_by_the_next_publish(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    publish(site.config, NOW)
    (site.feeds / "feeds.opml").unlink()
    assert publish(site.config, NOW).written == ["feeds.opml"]


def test_feeds_opml_is_removed_when_switched_off_and_never_written_by_default(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    publish(site.config, NOW)
    (site.root / "config.toml").write_text(BASE_CONFIG, encoding="utf-8")
    assert "feeds.opml" in publish(site.config, NOW).removed
    assert not (site.feeds / "feeds.opml").exists()
    # One written but not recorded (the state lost) is ours by its mark; a user's own OPML stays.
    (site.root / "config.toml").write_text(OPML_ON, encoding="utf-8")
    publish(site.config, NOW)
    shutil.rmtree(site.root / ".publisher")
    (site.root / "config.toml").write_text(BASE_CONFIG, encoding="utf-8")
    assert "feeds.opml" in publish(site.config, NOW).removed
    own = b'<?xml version="1.0"?>\n<opml version="2.0"><head/><body><outline text="x"/></body></opml>\n'
    (site.feeds / "feeds.opml").write_bytes(own)
    publish(site.config, NOW, force=True)
    assert (site.feeds / "feeds.opml").read_bytes() == own


def test_a_publish_without_feeds_opml_never_loads_the_http_client(tmp_path: Path) -> None:
    """xml.sax.saxutils brings urllib.request, http.client and ssl: loaded only to write an OPML file."""
    site = _site(tmp_path / "site", BASE_CONFIG)
    code = (
        "import sys; from publisher.cli import run; code = run(sys.argv[1:]);"
        " loaded = [m for m in ('xml.sax.saxutils', 'urllib.request', 'http.client') if m in sys.modules];"
        " assert not loaded, loaded; sys.exit(code)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PUBLISHER_DATABASE_URL"}
    argv = [sys.executable, "-c", code, "--site", str(site.root), "publish", "-q", "--now", NOW.isoformat()]
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (site.feeds / "atom.xml").exists() and not (site.feeds / "feeds.opml").exists()


def test_the_web_app_serves_feeds_opml_and_an_opml_of_the_ticked_tags(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    publish(site.config, NOW)
    client = create_app(site.config, secret=b"s" * 32, now=lambda: NOW, mailer=False).test_client()
    whole = client.get("/feeds/feeds.opml")
    assert whole.status_code == 200 and whole.data == (site.feeds / "feeds.opml").read_bytes()
    assert whole.headers["Content-Type"] == "text/x-opml; charset=utf-8"
    index = client.get("/").get_data(as_text=True)
    assert 'action="/feeds.opml"' in index and 'name="tag" value="libya-co"' in index
    assert 'href="/feeds/feeds.opml"' in index
    chosen = client.get("/feeds.opml?tag=libya-co&tag=att&tag=nope&tag=att")
    assert chosen.status_code == 200 and chosen.headers["Content-Type"] == "text/x-opml; charset=utf-8"
    assert chosen.headers["Content-Disposition"] == 'attachment; filename="feeds.opml"'
    assert _outlines(chosen.data) == [_outline("tags", "libya-co", "Libya & Co"), _outline("tags", "att", "ATT")]
    assert client.get("/feeds.opml?tag=nope").status_code == 404
    assert client.get("/feeds.opml").status_code == 404
    off = create_app(Site(tmp_path / "site", BASE_CONFIG).config, secret=b"s" * 32, now=lambda: NOW, mailer=False)
    assert off.test_client().get("/feeds.opml?tag=att").status_code == 404
    assert 'name="tag"' not in off.test_client().get("/").get_data(as_text=True)
