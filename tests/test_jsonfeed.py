"""JSON Feed 1.1: what the specification requires of every feed and item, read from the
files a publish wrote, and the web app serving them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from publisher.feeds import plan_feeds
from publisher.publish import live_posts, publish
from publisher.web import create_app

from .conftest import BASE_CONFIG, NOW, Site
from .feedcheck import assert_json_round_trip

ALL_FORMATS = BASE_CONFIG.replace("[feeds]\n", '[feeds]\nformats = ["atom", "rss", "json"]\n')
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _site(root: Path, config: str = ALL_FORMATS) -> Site:
    site = Site(root, config)
    site.post("a.md", "title: A & <b>\ndate: 2012-01-01 10:00\ntags: [ATT, Libya]\nauthor: Ann", "Some *text*.")
    site.post("b.md", "title: B\ndate: 2012-01-02 10:00\ntags: [ATT]\nauthor: Bob\nsummary: Short.", "More.")
    site.post("c.md", "title: 42\nid: '42'\ndate: 2012-01-03 10:00", "")
    return site


def _check_musts(feed: dict[str, object]) -> None:
    """Every MUST of jsonfeed.org/version/1.1 that a feed of ours can break."""
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    for key in ("home_page_url", "feed_url"):
        assert isinstance(feed[key], str) and str(feed[key]).startswith("https://")
    items = feed["items"]
    assert isinstance(items, list)
    ids = [item["id"] for item in items]
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids)
    for item in items:
        assert isinstance(item.get("content_html", item.get("content_text")), str)
        for key in ("date_published", "date_modified"):
            assert RFC3339.fullmatch(item[key]), item[key]
        for author in item.get("authors", []):
            assert {"name", "url", "avatar"} & set(author)
        assert all(isinstance(t, str) for t in item.get("tags", []))
    for hub in feed.get("hubs", []):  # type: ignore[attr-defined]
        assert set(hub) == {"type", "url"}


def test_json_feed_beside_each_atom_and_rss_feed_meets_the_spec_and_round_trips(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    config = site.config
    report = publish(config, NOW)
    for folder in ("", "tags/att/", "tags/libya/", "authors/ann/", "authors/bob/"):
        assert {f"{folder}atom.xml", f"{folder}rss.xml", f"{folder}feed.json"} <= set(report.written)
    for spec, posts in plan_feeds(config, live_posts(config, NOW)):
        data = (site.feeds / spec.path("json")).read_bytes()
        _check_musts(json.loads(data.decode("utf-8")))
        assert_json_round_trip(config, spec, posts)
    item = json.loads((site.feeds / "feed.json").read_bytes())["items"][0]
    assert item["id"] == "42" and item["title"] == "42"  # a number-like id stays a string


def test_json_feed_bytes_are_the_same_for_the_same_content(tmp_path: Path) -> None:
    one, two = _site(tmp_path / "one"), _site(tmp_path / "two")
    publish(one.config, NOW)
    publish(two.config, NOW.replace(year=2030))
    assert (one.feeds / "tags/att/feed.json").read_bytes() == (two.feeds / "tags/att/feed.json").read_bytes()
    assert publish(one.config, NOW).written == []


def test_json_feed_without_full_content_carries_the_summary_as_text(tmp_path: Path) -> None:
    site = _site(tmp_path / "site", ALL_FORMATS.replace("[feeds]\n", "[feeds]\nfull_content = false\n"))
    config = site.config
    publish(config, NOW)
    for spec, posts in plan_feeds(config, live_posts(config, NOW)):
        _check_musts(json.loads((site.feeds / spec.path("json")).read_bytes()))
        assert_json_round_trip(config, spec, posts)


def test_the_web_app_serves_json_feeds_with_their_type_and_304(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    publish(site.config, NOW)
    client = create_app(site.config, secret=b"s" * 32, now=lambda: NOW, mailer=False).test_client()
    response = client.get("/feeds/tags/att/feed.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    assert response.data == (site.feeds / "tags/att/feed.json").read_bytes()
    again = client.get("/feeds/tags/att/feed.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    index = client.get("/").get_data(as_text=True)
    assert 'type="application/feed+json"' in index and "JSON Feed" in index
    off = create_app(Site(tmp_path / "site", BASE_CONFIG).config, secret=b"s" * 32, now=lambda: NOW, mailer=False)
    assert off.test_client().get("/feeds/tags/att/feed.json").status_code == 404  # not a configured format


def test_a_json_feed_publisher_wrote_but_did_not_record_is_swept_and_a_users_own_is_kept(tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    publish(site.config, NOW)
    shutil.rmtree(site.root / ".publisher")  # the ledger lost: nothing records the JSON Feeds any more
    (site.feeds / "tags/own").mkdir()
    own = site.feeds / "tags/own/feed.json"
    own.write_text('{"version": "https://jsonfeed.org/version/1.1", "feed_url": "https://elsewhere.example/f.json"}')
    (site.root / "config.toml").write_text(BASE_CONFIG, encoding="utf-8")  # json no longer a format
    removed = publish(site.config, NOW).removed
    assert sorted(removed) == [
        "authors/ann/feed.json",
        "authors/bob/feed.json",
        "authors/default-author/feed.json",
        "feed.json",
        "tags/att/feed.json",
        "tags/libya/feed.json",
    ]
    assert sorted(p.relative_to(site.feeds).as_posix() for p in site.feeds.rglob("*.json")) == ["tags/own/feed.json"]
