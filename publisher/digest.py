"""(digest, slot, subscriber) -> posts -> a frozen run -> the outbox, and the send that drives it.

Selection follows our own publish ledger: a subscriber gets the live posts on
their tags whose ``published.seq`` is above their watermark for this digest,
each post once, newest first. Subscribers who would get the same posts share
one render (rendering.py), so 100,000 subscribers cost a few thousand renders,
and the outbox stores only those renders plus a short row per recipient.
A run is frozen once per slot; delivery.py sends its outbox.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .addresses import parse_mailbox
from .clock import Clock, Sleep, Stop
from .config import Config, DigestConfig
from .delivery import DeliveryReport, deliver
from .locks import holding
from .message import Render, build_message, fields_json, fill, recipient_fields, recipient_fields_for, wire_bytes
from .model import Post, Subscriber, SubscriberStatus
from .private import write_private
from .publish import live_posts
from .reading import Progress
from .rendering import Renderer
from .renderpool import Group, Renders
from .slots import current_slot
from .state import State, open_state
from .subscribers import valid_address
from .tokens import secret_from_env
from .unsubscribes import apply_unsubscribes
from .workers import deliver_in_processes


@dataclass(frozen=True)
class Selection:
    """Who gets which posts: the distinct groups to render once each, and each recipient's group."""

    posts: tuple[tuple[int, str], ...]  # (published.seq, post id)
    groups: tuple[Group, ...]
    messages: tuple[tuple[Subscriber, int, tuple[Post, ...]], ...]  # (recipient, index into groups, posts)
    watermark: int  # the ledger position every recipient has seen once their message is sent


@dataclass(frozen=True)
class RunPlan:
    """What a run would freeze: its posts, its shared renders and one message per recipient."""

    posts: tuple[tuple[int, str], ...]  # (published.seq, post id)
    renders: tuple[Render, ...]
    messages: tuple[tuple[Subscriber, int, tuple[Post, ...]], ...]  # (recipient, index into renders, posts)
    watermark: int  # the ledger position every recipient has seen once their message is sent


@dataclass(frozen=True)
class Candidates:
    """Live posts that are in the ledger (and on the digest's fixed tags, if any), newest first, with
    where each tag's posts are among them: a selection looks only at its own tags' posts."""

    posts: tuple[tuple[int, Post], ...]  # (published.seq, post)
    by_tag: dict[str, tuple[int, ...]]  # tag slug -> indices into posts, in order

    @classmethod
    def of(cls, posts: list[Post], seqs: dict[str, int], digest: DigestConfig) -> Candidates:
        wanted = set(digest.tags) if digest.tags is not None else None
        out: list[tuple[int, Post]] = []
        by_tag: dict[str, list[int]] = {}
        for post in sorted(posts, key=Post.sort_key):
            slugs = {t.slug for t in post.tags}
            if post.id in seqs and (wanted is None or not wanted.isdisjoint(slugs)):
                for slug in slugs:
                    by_tag.setdefault(slug, []).append(len(out))
                out.append((seqs[post.id], post))
        return cls(tuple(out), {slug: tuple(found) for slug, found in by_tag.items()})


def select_posts(candidates: Candidates, tags: tuple[str, ...] | None, watermark: int, limit: int) -> tuple[Post, ...]:
    """Posts above the watermark on any of ``tags`` (None: every tag), each once, newest first."""
    if tags is None:
        indices: Iterable[int] = range(len(candidates.posts))
    else:
        indices = sorted({i for tag in tags for i in candidates.by_tag.get(tag, ())})
    out: list[Post] = []
    for i in indices:
        seq, post = candidates.posts[i]
        if seq > watermark:
            out.append(post)
            if len(out) == limit:
                break
    return tuple(out)


def select_run(
    digest: DigestConfig, posts: list[Post], seqs: dict[str, int], recipients: list[tuple[Subscriber, int]]
) -> Selection:
    """Select for every (subscriber, watermark) and group them by distinct (posts, has-a-name, language)."""
    candidates = Candidates.of(posts, seqs, digest)
    selections: dict[tuple[tuple[str, ...] | None, int], tuple[tuple[Post, ...], tuple[str, ...]]] = {}
    groups: dict[tuple[tuple[str, ...], bool, str | None], int] = {}
    chosen_groups: list[Group] = []
    messages = []
    for subscriber, watermark in recipients:
        tags = digest.tags if digest.tags is not None else subscriber.tags
        key = (tags, watermark)
        found = selections.get(key)
        if found is None:
            chosen = select_posts(candidates, tags, watermark, digest.max_items)
            found = selections[key] = (chosen, tuple(p.id for p in chosen))
        chosen, ids = found
        if len(chosen) < digest.min_items:
            continue
        named = bool(subscriber.name)
        group = (ids, named, subscriber.language)
        index = groups.get(group)
        if index is None:
            index = groups[group] = len(chosen_groups)
            chosen_groups.append((chosen, named, subscriber.language))
        messages.append((subscriber, index, chosen))
    used = {pid for ids, _, _ in groups for pid in ids}
    return Selection(
        posts=tuple(sorted((seqs[pid], pid) for pid in used)),
        groups=tuple(chosen_groups),
        messages=tuple(messages),
        watermark=max(seqs.values(), default=0),  # posts enter the ledger only when really published
    )


def plan_run(
    renderer: Renderer,
    posts: list[Post],
    seqs: dict[str, int],
    recipients: list[tuple[Subscriber, int]],
) -> RunPlan:
    """Select for every (subscriber, watermark) and render once per distinct (posts, has-a-name, language)."""
    selection = select_run(renderer.digest, posts, seqs, recipients)
    with closing(Renders(renderer, selection.groups)) as renders:
        return _plan(selection, renders.result())


def _plan(selection: Selection, renders: list[Render]) -> RunPlan:
    return RunPlan(selection.posts, tuple(renders), selection.messages, selection.watermark)


@contextmanager
def _bulk() -> Iterator[None]:
    """No cyclic garbage collection while a run is frozen: the run makes a few hundred thousand objects
    that all live until it is committed, and the collector would walk them again and again for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_run(
    config: Config, store: State, digest: DigestConfig, slot: datetime, posts: list[Post], now: datetime, secret: bytes
) -> RunPlan | None:
    """Fix the run's posts and recipients in one transaction; None when this slot was frozen before.

    A large run's renders are also made on worker processes when cores are idle, while this one signs
    each recipient's links.
    """
    renderer = Renderer(config, digest)
    with store.transaction(), _bulk():
        if store.runs.exists(digest.name, slot):
            return None
        selection = select_run(digest, posts, store.published.seqs(), store.subscribers.active(digest.name))
        with closing(Renders(renderer, selection.groups)) as renders:
            fields_of = recipient_fields_for(config, secret)
            rows = [(s.id, index, fields_json(fields_of(s)), selection.watermark) for s, index, _ in selection.messages]
            plan = _plan(selection, renders.result())
        store.runs.insert(digest.name, slot, now, plan.posts, [(r.subject, r.text, r.html) for r in plan.renders], rows)
    return plan


def preview(config: Config, name: str, address: str | None, out: Path, now: datetime) -> tuple[Path, Path] | None:
    """Write the message ``address`` would get now as .eml and .html, sending nothing; None: no message.

    An address that is not subscribed (by default the digest's own From address)
    is shown what a new reader following every tag would get.
    """
    digest = config.digest(name)
    secret = secret_from_env()
    posts = live_posts(config, now)
    with open_state(config.state) as store:
        seqs = store.published.seqs()
        clean = valid_address(address, "--to") if address else parse_mailbox(digest.from_address)[1]
        subscriber = store.subscribers.by_address(clean)
        watermark = store.subscribers.watermark(subscriber.id, digest.name) if subscriber else 0
    recipient = subscriber or Subscriber(0, clean, "", None, SubscriberStatus.ACTIVE, now)
    plan = plan_run(Renderer(config, digest), posts, seqs, [(recipient, watermark)])
    if not plan.messages:
        return None
    fields = recipient_fields(config, secret, recipient)
    msg = build_message(config, digest, now, now, recipient.id, plan.renders[0], fields)
    stem = f"{digest.name}-{recipient.address}"
    eml, page = out / f"{stem}.eml", out / f"{stem}.html"
    write_private(eml, wire_bytes(msg))
    write_private(page, fill(plan.renders[0].html, fields, escape=True).encode())
    return eml, page


def _send(
    config: Config,
    store: State,
    digest: DigestConfig,
    report: DeliveryReport,
    *,
    clock: Clock,
    sleep: Sleep,
    stopping: Stop,
    progress: Progress | None,
    workers: int,
) -> None:
    """One pass over the digest's due messages: in this process, or by ``workers`` processes."""
    if workers == 1 or not store.runs.waiting().get(digest.name):
        deliver(config, store, [digest], report, clock=clock, sleep=sleep, stopping=stopping, progress=progress)
    else:
        deliver_in_processes(config, [digest.name], report, clock=clock, workers=workers)


def send_digest(
    config: Config,
    name: str,
    now: datetime,
    *,
    clock: Clock,
    sleep: Sleep,
    dry_run: bool = False,
    new_run: bool = True,
    stopping: Stop = lambda: False,
    progress: Progress | None = None,
    workers: int = 1,
) -> DeliveryReport:
    """Finish earlier runs of this digest, then freeze the current slot's run (once) and send it
    (``workers`` > 1: by that many processes at once, workers.py).

    Earlier runs go first so that a subscriber's watermark has moved before the
    new run selects for them: a crash never makes the next run repeat posts.
    ``new_run=False`` only finishes earlier runs (the scheduler skipped the current
    slot). One process at a time freezes and sends a digest; other senders (`publisher worker`)
    may help with its outbox.
    """
    digest = config.digest(name)
    report = DeliveryReport(slot=current_slot(digest, now) if new_run else None)
    secret = secret_from_env()
    with open_state(config.state) as store:
        if dry_run:
            report.waiting = store.runs.waiting().get(digest.name, report.waiting)
            if report.slot is not None and not store.runs.exists(digest.name, report.slot):
                posts = live_posts(config, now)
                report.planned = plan_run(
                    Renderer(config, digest), posts, store.published.seqs(), store.subscribers.active(digest.name)
                )
            return report
        with holding(store, f"digest {name}", f"digest {name!r} is being sent by another process"):
            try:
                apply_unsubscribes(store)  # recorded while the state database was busy: no mail after leaving
                send = functools.partial(
                    _send, config, store, digest, report, clock=clock, sleep=sleep, stopping=stopping,
                    progress=progress, workers=workers,
                )  # fmt: skip
                send()
                if report.slot is not None and not stopping():
                    posts = live_posts(config, now)
                    report.planned = freeze_run(config, store, digest, report.slot, posts, now, secret)
                    send()
            finally:
                report.waiting = store.runs.waiting().get(digest.name, report.waiting)
    return report
