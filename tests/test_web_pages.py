"""The reader's pages: tags found and sorted as people sort, a page per tag, answers in the reader's
terms and language, and pages that never walk the posts. Flask's test client, a real state file."""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import lxml.html
import pytest

from publisher.browse import PER_PAGE
from publisher.publish import publish
from publisher.state import open_state
from publisher.subscribers import MANAGE
from publisher.tagindex import human_key
from publisher.tokens import make_token

from .conftest import NOW
from .digest_helpers import SECRET, secret, subscribe
from .web_helpers import Web, confirm_link, csrf_of, form_action, issued_of, local, web

__all__ = ["secret", "web"]  # fixtures, imported so pytest finds them here

_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    """Every file opened while a ``_watching`` block is open."""
    if _opened is not None and event == "open" and isinstance(args[0], str | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # hooks cannot be removed: it does nothing outside _watching


@contextmanager
def _watching(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], list[str]]]:
    """(files opened, SQL statements run) within the block: the real SQLite, traced."""
    global _opened
    connect = sqlite3.connect
    statements: list[str] = []

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        db = connect(*args, **kwargs)  # type: ignore[arg-type]
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    _opened = opened = []
    try:
        yield opened, statements
    finally:
        _opened = None
        monkeypatch.setattr(sqlite3, "connect", connect)


def _tree(response) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(response.get_data(as_text=True))


def _many_tags(web: Web, names: list[str]) -> None:
    for n in range(0, len(names), 40):
        chunk = ", ".join(f'"{name}"' for name in names[n : n + 40])
        web.site.post(f"many{n}.md", f"title: Many {n}\ndate: 2026-11-1{n // 40} 09:00\ntags: [{chunk}]")
    publish(web.site.config, NOW)


def test_names_sort_as_people_sort_them() -> None:
    names = ["Topic 10", "topic 2", "Zebra", "Économie", "Topic 1", "eau", "Ezra", "Topic 100", "ATT"]
    assert sorted(names, key=human_key) == [
        "ATT",
        "eau",
        "Économie",
        "Ezra",
        "Topic 1",
        "topic 2",
        "Topic 10",
        "Topic 100",
        "Zebra",
    ]


def test_front_page_reads_no_post_and_no_content_file(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    client = web.app.test_client()
    client.get("/")  # templates compiled, catalogs read
    content = str(web.site.root / "content")
    with _watching(monkeypatch) as (opened, statements):
        response = client.get("/")
        tag = client.get("/tags/unpoa")
    assert response.status_code == tag.status_code == 200 and "UNPoA" in response.get_data(as_text=True)
    assert opened and [path for path in opened if path.startswith(content)] == []
    assert any("web_tags" in sql for sql in statements)  # the watch sees the page's queries
    assert [sql for sql in statements if re.search(r"\bfiles\b", sql)] == []  # the post index: never read


def test_tags_are_sorted_searched_and_paged_by_the_database(web: Web) -> None:
    names = [f"Topic {n}" for n in range(1, PER_PAGE + 3)] + ["Économie", "Ezra", "eau"]
    _many_tags(web, names)
    client = web.app.test_client()
    first = _tree(client.get("/"))
    shown = first.xpath("//ul[@class='tags']/li/a/text()")
    assert len(shown) == PER_PAGE
    assert shown[:7] == ["ATT", "eau", "Économie", "Ezra", "Libya", "Topic 1", "Topic 2"]
    assert f"{len(names) + 3} tags." in first.xpath("string(//p[@class='count'])")
    (following,) = first.xpath("//nav[@class='pages']/a[@rel='next']/@href")
    rest = _tree(client.get(following)).xpath("//ul[@class='tags']/li/a/text()")
    assert (rest[-2:] == [f"Topic {PER_PAGE + 1}", f"Topic {PER_PAGE + 2}"] and rest[-1] == "UNPoA") or "UNPoA" in rest
    assert len(shown) + len(rest) == len(names) + 3
    found = _tree(client.get("/?q=ECONOMIE"))  # case and accents aside
    assert found.xpath("//ul[@class='tags']/li/a/text()") == ["Économie"]
    assert _tree(client.get("/?q=100%25")).xpath("//ul[@class='tags']/li") == []  # % is a character, not a wildcard
    assert client.get("/?page=99").status_code == 404 and client.get("/?page=x").status_code == 404


def test_a_tag_page_has_its_posts_its_feeds_only_and_a_one_field_sign_up(web: Web) -> None:
    client = web.app.test_client()
    page = client.get("/tags/unpoa")
    tree = _tree(page)
    assert tree.xpath("string(//h1)") == "UNPoA"
    alternates = {el.get("href") for el in tree.xpath("//head/link[@rel='alternate']")}
    assert alternates == {"/feeds/tags/unpoa/atom.xml", "/feeds/tags/unpoa/rss.xml"}
    assert tree.xpath("//ol[@class='posts']/li/a/text()") == ["Review conference dates", "Treaty talks open"]
    assert tree.xpath("//ol[@class='posts']/li/time/text()") == ["23 November 2026", "20 November 2026"]
    form = tree.xpath("//form[@action='/subscribe']")[0]
    assert [el.get("name") for el in form.xpath(".//input[not(@type='hidden')]")] == ["website", "email"]
    html = page.get_data(as_text=True)
    fields = {"csrf": csrf_of(html), "issued": issued_of(html), "email": "ola@example.org", "tag": "unpoa"}
    assert client.post("/subscribe", data={**fields, "digest": "daily"}).status_code == 200
    with open_state(web.site.config.state) as store:
        ola = store.subscribers.by_address("ola@example.org")
        assert ola is not None and ola.tags == ("unpoa",) and store.subscribers.digest_of(ola.id) == "daily"
    assert client.get("/tags/nothing-here").status_code == 404


def test_after_confirming_the_page_says_which_digest_which_tags_and_when(web: Web) -> None:
    client = web.app.test_client()
    html = client.get("/tags/unpoa").get_data(as_text=True)
    fields = {"csrf": csrf_of(html), "issued": issued_of(html), "email": "pat@example.org", "tag": "unpoa"}
    client.post("/subscribe", data={**fields, "digest": "daily"}, headers={"Accept-Language": "fr-CH, en;q=0.5"})
    web.send()
    (msg,) = web.mail.messages()
    assert msg["Subject"] == "Confirmez votre abonnement à Test Site"  # the language of the sign-up page
    link = local(confirm_link(msg))
    page = client.get(link, headers={"Accept-Language": "en"}).get_data(as_text=True)
    done = client.post(form_action(page, "Confirm"), data={"csrf": csrf_of(page)})
    details = _tree(done).xpath("//ul[@class='details']/li/text()")
    assert details == [
        "The daily digest, every day at 08:00, with UNPoA. The next one is due "
        "Saturday, 28 November 2026 at 08:00 (Paris time)."
    ]
    with open_state(web.site.config.state) as store:
        assert store.subscribers.language(store.subscribers.by_address("pat@example.org").id) == "fr"


def test_pages_speak_the_readers_language_else_the_sites(web: Web) -> None:
    client = web.app.test_client()
    french = client.get("/", headers={"Accept-Language": "de, fr;q=0.8"})
    tree = _tree(french)
    assert tree.get("lang") == "fr" and french.headers["Content-Language"] == "fr"
    assert tree.xpath("string(//h1)") == "Flux et lettres d’information"
    assert "Accept-Language" in french.headers["Vary"]
    assert _tree(client.get("/", headers={"Accept-Language": "de"})).get("lang") == "en"  # the site's
    missing = client.get("/nowhere", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404 and _tree(missing).xpath("string(//h1)") == "Page introuvable"


def test_the_manage_page_keeps_followed_tags_first_and_the_way_out_apart(web: Web) -> None:
    subscribe(web.site, ("quinn@example.org", "Quinn", ["Libya"]))
    with open_state(web.site.config.state) as store:
        quinn = store.subscribers.by_address("quinn@example.org")
    url = f"/manage?token={make_token(SECRET.encode(), MANAGE, quinn.id, quinn.address)}"
    tree = _tree(web.app.test_client().get(url))
    assert tree.xpath("//form[@class='card']/fieldset[1]//input/@value") == ["libya"]
    assert tree.xpath("//details//input/@value") == ["att", "unpoa"]
    (leave,) = tree.xpath("//section[@class='danger']")
    assert leave.xpath(".//button[@class='destructive']/text()") == ["Unsubscribe from all"]
    assert not tree.xpath("//form[@class='card']//button[@class='destructive']")


@pytest.mark.parametrize("hours", [0, 30])
def test_the_tag_table_follows_each_publish(web: Web, hours: int) -> None:
    web.site.post("later.md", "title: Later\ndate: 2026-11-28 10:00\ntags: [Fresh, UNPoA]")
    publish(web.site.config, NOW + timedelta(hours=hours))
    with open_state(web.site.config.state) as store:
        tags = store.web_tags.page()[1]
        fresh = store.web_tags.one("fresh")
    names = [t.name for t in tags]
    if hours:  # the post is live at that publish's time
        assert names == ["ATT", "Fresh", "Libya", "UNPoA"] and fresh is not None and fresh.posts == 1
    else:
        assert names == ["ATT", "Libya", "UNPoA"] and fresh is None


@pytest.mark.parametrize(
    ("wait", "honeypot", "issued", "queued"),
    [
        (timedelta(seconds=5), "", None, True),  # a person: some seconds to type an address
        (timedelta(seconds=1), "", None, False),  # too fast for a person
        (timedelta(seconds=5), "https://spam.example", None, False),  # filled the field people never see
        (timedelta(seconds=5), "", "1700000000.forged", False),  # a made-up issue time
        (timedelta(seconds=5), "", "", False),  # none at all
    ],
)
def test_sign_ups_sent_by_programs_get_the_usual_page_and_nothing_is_sent(
    tmp_path: Path, wait: timedelta, honeypot: str, issued: str | None, queued: bool
) -> None:
    from publisher.web import create_app

    from .digest_helpers import published_site
    from .web_helpers import Clock

    site = published_site(tmp_path / "site")
    clock = Clock()
    app = create_app(site.config, secret=SECRET.encode(), now=clock, mailer=False, min_fill=timedelta(seconds=3))
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    clock.at += wait  # the reader (or the program) takes this long
    fields = {"csrf": csrf_of(html), "issued": issued_of(html) if issued is None else issued}
    response = client.post("/subscribe", data={**fields, "email": "rex@example.org", "website": honeypot})
    assert response.status_code == 200 and "Check your inbox" in _tree(response).text_content()
    with open_state(site.config.state) as store:
        assert (store.subscribers.by_address("rex@example.org") is not None) is queued
        assert len(store.confirmations.open()) == queued


def test_each_reader_gets_digests_in_the_language_they_signed_up_in(web: Web, secret: bytes) -> None:
    from publisher.digest import send_digest

    from .digest_helpers import FakeClock

    subscribe(web.site, ("rene@example.org", "René", ["UNPoA"]), ("sue@example.org", "Sue", ["UNPoA"]))
    with open_state(web.site.config.state) as store:
        store.subscribers.set_language(store.subscribers.by_address("rene@example.org").id, "fr")
    clock = FakeClock()
    assert send_digest(web.site.config, "daily", NOW + timedelta(days=1), clock=clock.now, sleep=clock.sleep).sent == 2
    texts = {msg["To"].addresses[0].addr_spec: msg.get_body(("plain",)).get_content() for msg in web.mail.messages()}
    assert "Bonjour René," in texts["rene@example.org"] and "23 novembre 2026" in texts["rene@example.org"]
    assert "Gérer vos étiquettes : " in texts["rene@example.org"]
    assert "Hello Sue," in texts["sue@example.org"] and "23 November 2026" in texts["sue@example.org"]
    assert "Manage your tags: " in texts["sue@example.org"]
