"""RFC 5005 archived feeds: every post of a feed is on its subscription document or on
exactly one archive page, the pages link up, pass the validator rules and the Atom
schema, and a new post rewrites only the files it must."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from publisher.feeds import plan_feeds
from publisher.publish import live_posts, publish

from .conftest import ATOM_SCHEMA, BASE_CONFIG, NOW, Site
from .feedcheck import assert_round_trip
from .feedlint import lint_atom, lint_rss

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
ARCHIVES = BASE_CONFIG.replace(
    "[feeds]\n", '[feeds]\nformats = ["atom", "rss", "json"]\narchives = true\nmax_items = 2\n'
)
BASE = "https://news.example.org/blog/feeds/"


def _post(site: Site, n: int, tags: str = "[ATT]") -> None:
    site.post(f"p{n}.md", f"title: Post {n}\ndate: 2012-01-{n:02} 10:00\ntags: {tags}\nauthor: Ann")


def _links(root: etree._Element) -> dict[str, str]:
    holder = root if root.tag == f"{ATOM}feed" else root.find("channel")
    return {link.get("rel"): link.get("href") for link in holder.findall(f"{ATOM}link")}


def _walk(site: Site, rel: str) -> list[tuple[str, list[str]]]:
    """(path, entry ids) of the subscription document at ``rel`` and every archive page,
    following prev-archive links as a reader would, each page checked on the way."""
    pages = []
    url = BASE + rel
    subscription = url
    while url:
        path = url.removeprefix(BASE)
        data = (site.feeds / path).read_bytes()
        root = etree.fromstring(data)
        atom = root.tag == f"{ATOM}feed"
        assert (lint_atom if atom else lint_rss)(data, url) == []
        if atom:
            schema = etree.RelaxNG(etree.parse(str(ATOM_SCHEMA)))
            assert schema.validate(etree.ElementTree(root)), schema.error_log
        links = _links(root)
        archived = (root if atom else root.find("channel")).find(f"{FH}archive") is not None
        assert archived == (url != subscription)
        if archived:
            assert links["current"] == subscription
        ids = [e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")] or [g.text for g in root.iter("guid")]
        pages.append((path, ids))
        url = links.get("prev-archive", "")
        if url:
            before = etree.fromstring((site.feeds / url.removeprefix(BASE)).read_bytes())
            if pages[-1][0] != rel:
                assert _links(before)["next-archive"] == BASE + path
    return pages


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 8])
def test_subscription_and_archive_pages_hold_every_post_once(tmp_path: Path, count: int) -> None:
    site = Site(tmp_path / "site", ARCHIVES)
    for n in range(1, count + 1):
        _post(site, n, "[ATT, Libya]" if n % 2 else "[ATT]")
    config = site.config
    publish(config, NOW)
    live = live_posts(config, NOW)
    for folder, fmt in [(f, fmt) for f in ("", "tags/att/", "tags/libya/", "authors/ann/") for fmt in ("atom", "rss")]:
        name = "atom.xml" if fmt == "atom" else "rss.xml"
        pages = _walk(site, folder + name)
        ids = [i for _path, page_ids in pages for i in page_ids]
        wanted = [p.id for p in live if folder in ("", "authors/ann/") or folder[5:-1] in {t.slug for t in p.tags}]
        assert sorted(ids) == sorted(wanted) and len(ids) == len(set(ids))
        assert len(pages[0][1]) == min(2, len(wanted))  # the subscription document: the newest
        assert all(len(page_ids) == 2 for _path, page_ids in pages[2:])  # every page but the newest is full
    for spec, posts in plan_feeds(config, live):
        for fmt in ("atom", "rss"):
            assert_round_trip(config, spec, fmt, posts)
    assert not list(site.feeds.rglob("archive/*.json"))  # JSON Feed has no archive pages


def test_a_new_post_rewrites_the_subscription_documents_and_one_archive_page_each(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", ARCHIVES)
    for n in range(1, 8):
        _post(site, n)
    publish(site.config, NOW)  # 7 posts: newest 2 subscribed, 5 archived on pages of 2, 2, 1
    before = site.feed_files()
    _post(site, 8)
    written = publish(site.config, NOW).written
    per_feed = ["atom.xml", "rss.xml", "feed.json", "archive/3.xml", "archive/3.rss.xml"]
    assert sorted(written) == sorted(
        f"{folder}{name}" for folder in ("", "tags/att/", "authors/ann/") for name in per_feed
    )
    after = site.feed_files()
    assert all(after[rel] == data for rel, data in before.items() if "archive/1." in rel or "archive/2." in rel)
    # The newest post deleted: it leaves its subscription documents, and the post it had
    # pushed onto page 3 comes back; pages 1 and 2 stay as they are.
    (site.root / "content/p8.md").unlink()
    assert sorted(publish(site.config, NOW).written) == sorted(written)
    assert site.feed_files() == before
    assert publish(site.config, NOW).written == []


def test_without_archives_there_are_no_archive_links_or_pages(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", ARCHIVES.replace("archives = true\n", ""))
    for n in range(1, 6):
        _post(site, n)
    publish(site.config, NOW)
    assert not list(site.feeds.rglob("archive"))
    assert "prev-archive" not in _links(etree.fromstring((site.feeds / "atom.xml").read_bytes()))


def test_the_web_app_serves_archive_pages_of_configured_formats_only(tmp_path: Path) -> None:
    from publisher.web import create_app

    site = Site(tmp_path / "site", ARCHIVES)
    for n in range(1, 6):
        _post(site, n)
    publish(site.config, NOW)
    client = create_app(site.config, secret=b"s" * 32, now=lambda: NOW, mailer=False).test_client()
    for path, media_type in (("tags/att/archive/1.xml", "atom"), ("archive/2.rss.xml", "rss")):
        response = client.get(f"/feeds/{path}")
        assert response.status_code == 200 and response.data == (site.feeds / path).read_bytes()
        assert response.headers["Content-Type"] == f"application/{media_type}+xml; charset=utf-8"
    for path in ("tags/att/archive/9.xml", "tags/att/archive/01.xml", "tags/att/1.xml", "archive/1.json"):
        assert client.get(f"/feeds/{path}").status_code == 404, path


def test_the_newest_archive_page_leads_on_to_the_subscription_document(tmp_path: Path) -> None:
    # The W3C validator warns of an archive page linking to no other ("Archive incomplete"):
    # a lone page, or the newest, names the subscription document as what follows it.
    site = Site(tmp_path / "site", ARCHIVES)
    for n in range(1, 4):
        _post(site, n)
    publish(site.config, NOW)
    for page, subscription in (("archive/1.xml", "atom.xml"), ("archive/1.rss.xml", "rss.xml")):
        links = _links(etree.fromstring((site.feeds / "tags/att" / page).read_bytes()))
        assert links["next-archive"] == links["current"] == f"{BASE}tags/att/{subscription}"
        assert "prev-archive" not in links


def test_archive_pages_and_temp_files_a_crashed_publish_left_are_removed_and_a_users_files_kept(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path / "site", ARCHIVES)
    for n in range(1, 6):
        _post(site, n)
    publish(site.config, NOW)  # pages 1 and 2 in each archive folder
    page = (site.feeds / "tags/att/archive/1.xml").read_bytes()
    left = {  # what a publish killed before recording its files leaves
        "tags/att/archive/9.xml": page,
        "archive/7.rss.xml": (site.feeds / "archive/1.rss.xml").read_bytes(),
        "tags/att/archive/.3.xml.k2j4h1.tmp": b"<?xml half",
        "archive/.1.rss.xml.x8.tmp": b"",
    }
    own = {
        "tags/att/archive/8.xml": b"<feed>written by hand</feed>",
        "tags/att/archive/notes.txt": page,
        "tags/att/archive/readme.tmp": b"not hidden: not ours",
    }
    for rel, data in {**left, **own}.items():
        (site.feeds / rel).write_bytes(data)
    _post(site, 6)  # a publish with something to do looks for leftovers
    report = publish(site.config, NOW)
    assert sorted(report.removed) == sorted(left)
    assert {rel: (site.feeds / rel).read_bytes() for rel in own} == own
