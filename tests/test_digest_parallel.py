"""A frozen run (renders shared by groups, made on worker processes, rows queued in bulk) holds, for
every recipient, exactly the message a render of their own would give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher import renderpool
from publisher.digest import freeze_run
from publisher.errors import ConfigError
from publisher.message import Render, build_message, message_bytes, recipient_fields, wire_bytes
from publisher.model import Post, Subscriber
from publisher.publish import live_posts, publish
from publisher.rendering import Renderer
from publisher.state import State, open_state
from publisher.state.runs import OUTBOX_ITEM, OutboxItem, outbox_item

from .conftest import NOW
from .digest_helpers import make_site, secret

__all__ = ["secret"]

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and on PostgreSQL

SLOT = datetime(2026, 11, 27, 7, tzinfo=UTC)
MORE_POSTS = [  # (title, tags): with digest_helpers.POSTS, readers of different tags get different digests
    ("Small arms survey", ["ATT", "UNPoA"]),
    ("Sanctions panel @@publisher-address@@ report", ["Libya"]),  # a placeholder in a post stays text
    ("Élections et désarmement", ["Libya", "ATT"]),
    ("Border controls", ["UNPoA"]),
    ("Ammunition stockpiles", ["ATT"]),
    ("Ceasefire monitoring", ["Libya", "UNPoA"]),
]
TAG_SETS = [None, ("att",), ("libya",), ("unpoa", "libya"), ("att", "unpoa"), ("no-such-tag",)]
NAMES = ["", "Ann Lee", "Zoë Ünal", "Bob"]
LANGUAGES = [None, "fr", "en"]


def _population(count: int) -> list[Subscriber]:
    return [
        Subscriber(
            0,
            f"reader{n:03d}@example.org",
            NAMES[n % len(NAMES)],
            TAG_SETS[n % len(TAG_SETS)],
            "active",
            NOW,
            NOW,
            LANGUAGES[n % len(LANGUAGES) - (n // 12) % 2],  # not in step with the names or the tags
        )
        for n in range(count)
    ]


def _outbox(store: State) -> list[OutboxItem]:
    return [outbox_item(row) for row in store.db.rows(OUTBOX_ITEM + " WHERE r.digest = 'daily' ORDER BY o.id")]


def _own_posts(posts: list[Post], seqs: dict[str, int], tags: tuple[str, ...] | None, mark: int) -> list[Post]:
    """What one reader is due, worked out on its own: their tags' published posts above their mark, newest first."""
    due = [
        p
        for p in posts
        if p.id in seqs and seqs[p.id] > mark and (tags is None or {t.slug for t in p.tags} & set(tags))
    ]
    return sorted(due, key=lambda p: p.published, reverse=True)[:10]


@pytest.mark.parametrize("workers", [2, 0])  # renders on worker processes too, or only here
def test_every_queued_message_is_what_its_own_render_gives(
    tmp_path: Path, secret: bytes, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    site = make_site(tmp_path / "site")
    for n, (title, tags) in enumerate(MORE_POSTS):
        site.post(f"more-{n}.md", f"title: {title}\ndate: 2026-11-{24 + n % 3} 1{n}:00\ntags: [{', '.join(tags)}]")
    publish(site.config, NOW)
    config, digest = site.config, site.config.digest("daily")
    people = _population(72)
    with open_state(config.state) as store:
        store.subscribers.insert(people)
        for found in store.subscribers.all():
            store.subscribers.set_language(found.id, people[found.id - 1].language or "")
        seqs = store.published.seqs()
        marks = {s.id: sorted(seqs.values())[3] if s.id % 5 == 0 else 0 for s in store.subscribers.all()}
        for sid, mark in marks.items():
            if mark:  # as a sent message of an earlier run leaves it
                store.db.execute("INSERT INTO watermarks (subscriber, digest, seq) VALUES (?, 'daily', ?)", (sid, mark))
    monkeypatch.setattr(renderpool, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(renderpool, "idle_cores", lambda: workers)  # whatever else the machine is doing
    posts = live_posts(config, NOW)
    frozen = NOW + timedelta(minutes=3)
    with open_state(config.state) as store:
        plan = freeze_run(config, store, digest, SLOT, posts, frozen, secret)
        assert plan is not None and len(plan.renders) > 8
        queued = {item.subscriber: item for item in _outbox(store)}
        bodies = {item.body: Render(*store.runs.body(item.body)) for item in queued.values()}
        everyone = store.subscribers.all()

    alone = Renderer(config, digest)
    alone._fragments = dict.fromkeys(alone._fragments)  # the whole templates, for each reader on their own
    expected = {}
    for reader in everyone:
        own = _own_posts(posts, seqs, reader.tags, marks[reader.id])
        if own:
            render = alone.render(own, named=bool(reader.name), language=reader.language)
            fields = recipient_fields(config, secret, reader)
            expected[reader.id] = (
                fields,
                wire_bytes(build_message(config, digest, SLOT, frozen, reader.id, render, fields)),
            )
    assert set(queued) == set(expected) and len(expected) < len(everyone)  # the no-such-tag readers get nothing
    for sid, item in queued.items():
        fields, message = expected[sid]
        assert item.fields == fields
        assert message_bytes(config, digest, item.slot, item.frozen, sid, bodies[item.body], item.fields) == message


def test_renders_made_on_workers_are_those_made_here(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    publish(site.config, NOW)
    config, digest = site.config, site.config.digest("daily")
    posts = sorted(live_posts(config, NOW), key=lambda p: p.published, reverse=True)
    groups = [
        (tuple(posts[i:j]), named, lang)
        for i in range(3)
        for j in (i + 1, 4)
        for named in (True, False)
        for lang in ("en", "fr")
    ]
    here = renderpool.Renders(Renderer(config, digest), groups, workers=0)
    assert here.workers == 0
    pool = renderpool.Renders(Renderer(config, digest), groups * 40, workers=2)
    try:
        assert pool.workers == 2
        assert pool.result() == here.result() * 40
    finally:
        pool.close()


def test_a_template_error_on_a_worker_is_one_line_and_freezes_nothing(
    tmp_path: Path, secret: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path / "site")
    publish(site.config, NOW)
    (site.root / "templates").mkdir()
    (site.root / "templates" / "digest.txt.j2").write_text("{{ posts[1].no_such_field }}\n")  # fails with 2+ posts
    config, digest = site.config, site.config.digest("daily")
    with open_state(config.state) as store:
        store.subscribers.insert(_population(48))
    monkeypatch.setattr(renderpool, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(renderpool, "idle_cores", lambda: 2)
    with open_state(config.state) as store:
        with pytest.raises(ConfigError, match=r"^template digest 'daily': .*no_such_field"):
            freeze_run(config, store, digest, SLOT, live_posts(config, NOW), NOW, secret)
        assert not store.runs.exists("daily", SLOT) and _outbox(store) == []


@pytest.mark.parametrize(
    ("cores", "load", "idle"),
    [(2, 0.9, 1), (2, 1.4, 0), (2, 3.5, 0), (8, 2.7, 5), (8, 0.0, 7), (1, 0.0, 0), (4, None, 3)],
)
def test_workers_only_for_the_cores_no_one_else_keeps_busy(
    monkeypatch: pytest.MonkeyPatch, cores: int, load: float | None, idle: int
) -> None:
    def loadavg() -> tuple[float, float, float]:
        if load is None:
            raise OSError("no load average here")
        return (load, load, load)

    monkeypatch.setattr(renderpool.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(renderpool.os, "getloadavg", loadavg)
    assert renderpool.idle_cores() == idle
