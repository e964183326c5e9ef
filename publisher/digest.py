"""(digest, slot, subscriber) -> posts -> EmailMessage, through the Jinja templates.

Selection follows our own publish ledger: a subscriber gets the live posts on
their tags whose ``published.seq`` is above their watermark for this digest,
each post once, newest first. Subscribers who would get the same posts share
one render: per-recipient values (name, address, signed links) are written
into the render as placeholders and filled in when the message is built, so
100,000 subscribers cost a few hundred renders, and the outbox stores only
those renders plus a short row per recipient.

A message is built from frozen data only (the run, the shared render and the
recipient's row), so building it again after a crash gives the same bytes,
Message-ID included.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import css_inline
import jinja2
import nh3
from markupsafe import Markup

from .addresses import parse_mailbox
from .config import Config, DigestConfig
from .errors import ConfigError
from .model import Post, Subscriber
from .publish import live_posts
from .store import Store
from .subscribers import MANAGE, UNSUBSCRIBE, valid_address
from .tokens import make_token, secret_from_env

TEMPLATES = ("digest.html.j2", "digest.txt.j2")
EMAIL_URL_SCHEMES = frozenset({"http", "https", "mailto"})
BODY_ENCODING = "base64"  # 7-bit safe for any server; quoted-printable is pure Python and 20x slower
# Headers are written up to RFC 5322's hard limit of 998 characters, never encoded: a List-Unsubscribe
# URL longer than 78 would otherwise become an RFC 2047 encoded word that mail clients cannot act on.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)
FIELDS = ("name", "address", "unsubscribe_url", "manage_url")
_PLACEHOLDER = "@@publisher-{}@@"
_PLACEHOLDERS = re.compile("@@publisher-(" + "|".join(FIELDS) + ")@@")
_LINE_BREAKS = re.compile(r"\s+")
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def one_line(text: str) -> str:
    """Any run of whitespace, CR and LF included, becomes one space: a header can never be split."""
    return _LINE_BREAKS.sub(" ", text).strip()


@dataclass(frozen=True)
class Render:
    """One shared rendering with placeholders for the per-recipient fields."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class RunPlan:
    """What a run would freeze: its posts, its shared renders and one message per recipient."""

    posts: tuple[tuple[int, str], ...]  # (published.seq, post id)
    renders: tuple[Render, ...]
    messages: tuple[tuple[Subscriber, int, tuple[Post, ...]], ...]  # (recipient, index into renders, posts)
    watermark: int  # the ledger position every recipient has seen once their message is sent


def template_environment(config: Config) -> jinja2.Environment:
    """The site's own templates/ first, then the defaults shipped in the package; HTML autoescaped.

    ``wordwrap`` is memoised: every render of a run wraps the same summaries, and
    textwrap is the slowest step of a plain-text render.
    """
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(config.root / "templates"), jinja2.PackageLoader("publisher", "templates")]
        ),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wordwrap"] = jinja2.pass_environment(functools.lru_cache(maxsize=4096)(env.filters["wordwrap"]))
    return env


def _template_error(exc: jinja2.TemplateError, digest: DigestConfig) -> ConfigError:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{exc.filename or exc.name or f'digests.{digest.name}.subject'}:{exc.lineno}"
    else:
        where = f"digest {digest.name!r}"
    return ConfigError(f"template {where}: {exc.message or exc}")


class Renderer:
    """Renders a digest's shared parts; post contexts are built once per run and reused by every group."""

    def __init__(self, config: Config, digest: DigestConfig) -> None:
        self.config = config
        self.digest = digest
        env = template_environment(config)
        try:
            self.html_template = env.get_template(TEMPLATES[0])
            self.text_template = env.get_template(TEMPLATES[1])
            self.subject_template = env.from_string(digest.subject)
        except jinja2.TemplateError as exc:
            raise _template_error(exc, digest) from None
        self._posts: dict[str, dict[str, Any]] = {}

    def _post(self, post: Post) -> dict[str, Any]:
        found = self._posts.get(post.id)
        if found is None:
            found = self._posts[post.id] = {
                "title": one_line(post.title),
                "link": post.url,
                "date": post.published.astimezone(self.digest.tz),
                "author": ", ".join(a.name for a in post.authors),
                "tags": [t.name for t in post.tags],
                "summary": post.summary,
                "html": Markup(
                    nh3.clean(post.html, url_schemes=set(EMAIL_URL_SCHEMES), link_rel="noopener noreferrer")
                ),
            }
        return found

    def render(self, posts: Iterable[Post], named: bool) -> Render:
        """The shared parts for these posts; ``named``: the recipients have a display name."""
        context = {
            "site": self.config.site,
            "digest": self.digest,
            "posts": [self._post(p) for p in posts],
            "subscriber": {
                "name": _PLACEHOLDER.format("name") if named else "",
                "address": _PLACEHOLDER.format("address"),
            },
            "unsubscribe_url": _PLACEHOLDER.format("unsubscribe_url"),
            "manage_url": _PLACEHOLDER.format("manage_url"),
        }
        try:
            subject = self.subject_template.render(context)
            text = self.text_template.render(context)
            page = self.html_template.render(context)
        except jinja2.TemplateError as exc:
            raise _template_error(exc, self.digest) from None
        return Render(one_line(subject), text, _inliner.inline(page))


def recipient_fields(config: Config, secret: bytes, subscriber: Subscriber) -> dict[str, str]:
    """What differs per recipient: frozen with the run so a resend is identical."""
    base = config.web.base_url
    unsubscribe = make_token(secret, UNSUBSCRIBE, subscriber.id, subscriber.address)
    manage = make_token(secret, MANAGE, subscriber.id, subscriber.address)
    return {
        "name": one_line(subscriber.name),
        "address": subscriber.address,
        "unsubscribe_url": f"{base}unsubscribe?token={unsubscribe}",
        "manage_url": f"{base}manage?token={manage}",
    }


def _fill(text: str, fields: dict[str, str], escape: bool) -> str:
    return _PLACEHOLDERS.sub(lambda m: html.escape(fields[m.group(1)]) if escape else fields[m.group(1)], text)


def _mailbox(text: str) -> Address:
    name, address = parse_mailbox(text)
    return Address(display_name=name, addr_spec=address)


def message_id(config: Config, digest: str, slot: datetime, subscriber: int) -> str:
    """The same (digest, slot, subscriber) always gets the same id, so a resend can be recognised."""
    key = hashlib.sha256(f"{digest}\0{slot.isoformat()}\0{subscriber}".encode()).hexdigest()[:32]
    return f"<{digest}.{key}@{config.site.domain}>"


def build_message(
    config: Config,
    digest: DigestConfig,
    slot: datetime,
    frozen: datetime,
    subscriber: int,
    render: Render,
    fields: dict[str, str],
) -> EmailMessage:
    """multipart/alternative (text, then HTML) with the list headers mail clients act on."""
    msg = EmailMessage(policy=policy.SMTP)
    domain = config.site.domain
    msg["From"] = _mailbox(digest.from_address)
    msg["To"] = Address(display_name=fields["name"], addr_spec=fields["address"])
    msg["Subject"] = one_line(_fill(render.subject, fields, escape=False))
    msg["Date"] = format_datetime(frozen)
    msg["Message-ID"] = message_id(config, digest.name, slot, subscriber)
    if digest.reply_to:
        msg["Reply-To"] = _mailbox(digest.reply_to)
    msg["List-Id"] = f"{one_line(config.site.title)} {digest.name} digest <{digest.name}.{domain}>"
    token = fields["unsubscribe_url"].rpartition("token=")[2]
    mailto = f"mailto:{parse_mailbox(digest.from_address)[1]}?subject={quote('unsubscribe ' + token)}"
    msg["List-Unsubscribe"] = f"<{fields['unsubscribe_url']}>, <{mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(_fill(render.text, fields, escape=False), subtype="plain", charset="utf-8", cte=BODY_ENCODING)
    msg.add_alternative(_fill(render.html, fields, escape=True), subtype="html", charset="utf-8", cte=BODY_ENCODING)
    msg.set_boundary("=_" + msg["Message-ID"].strip("<>").partition("@")[0])
    return msg


def wire_bytes(msg: EmailMessage) -> bytes:
    """The bytes handed to SMTP and written to .eml files: CRLF line ends, headers never encoded words."""
    return msg.as_bytes(policy=WIRE_POLICY)


def _candidates(posts: list[Post], seqs: dict[str, int], digest: DigestConfig) -> list[tuple[int, Post, frozenset]]:
    """Live posts that are in the ledger (and on the digest's fixed tags, if any), newest first."""
    wanted = set(digest.tags) if digest.tags is not None else None
    out = []
    for post in sorted(posts, key=Post.sort_key):
        slugs = frozenset(t.slug for t in post.tags)
        if post.id in seqs and (wanted is None or not wanted.isdisjoint(slugs)):
            out.append((seqs[post.id], post, slugs))
    return out


def select_posts(
    candidates: list[tuple[int, Post, frozenset]], tags: tuple[str, ...] | None, watermark: int, limit: int
) -> tuple[Post, ...]:
    """Posts above the watermark on any of ``tags`` (None: every tag), each once, newest first."""
    wanted = set(tags) if tags is not None else None
    out: list[Post] = []
    for seq, post, slugs in candidates:
        if seq > watermark and (wanted is None or not wanted.isdisjoint(slugs)):
            out.append(post)
            if len(out) == limit:
                break
    return tuple(out)


def plan_run(
    renderer: Renderer,
    posts: list[Post],
    seqs: dict[str, int],
    recipients: list[tuple[Subscriber, int]],
) -> RunPlan:
    """Select for every (subscriber, watermark) and render once per distinct (posts, has-a-name)."""
    digest = renderer.digest
    candidates = _candidates(posts, seqs, digest)
    selections: dict[tuple[tuple[str, ...] | None, int], tuple[Post, ...]] = {}
    groups: dict[tuple[tuple[str, ...], bool], int] = {}
    renders: list[Render] = []
    messages = []
    for subscriber, watermark in recipients:
        tags = digest.tags if digest.tags is not None else subscriber.tags
        key = (tags, watermark)
        chosen = selections.get(key)
        if chosen is None:
            chosen = selections[key] = select_posts(candidates, tags, watermark, digest.max_items)
        if len(chosen) < digest.min_items:
            continue
        group = (tuple(p.id for p in chosen), bool(subscriber.name))
        index = groups.get(group)
        if index is None:
            index = groups[group] = len(renders)
            renders.append(renderer.render(chosen, named=group[1]))
        messages.append((subscriber, index, chosen))
    used = {p.id for _, _, chosen in messages for p in chosen}
    return RunPlan(
        posts=tuple(sorted((seqs[pid], pid) for pid in used)),
        renders=tuple(renders),
        messages=tuple(messages),
        watermark=max(seqs.values(), default=0),
    )


def freeze_run(
    config: Config, store: Store, digest: DigestConfig, slot: datetime, posts: list[Post], now: datetime, secret: bytes
) -> RunPlan | None:
    """Fix the run's posts and recipients in one transaction; None when this slot was frozen before."""
    renderer = Renderer(config, digest)
    with store.transaction():
        if store.run_exists(digest.name, slot):
            return None
        plan = plan_run(renderer, posts, store.published_seqs(), store.active_subscribers(digest.name))
        store.insert_run(
            digest.name,
            slot,
            now,
            plan.posts,
            [(r.subject, r.text, r.html) for r in plan.renders],
            (
                (s.id, index, json.dumps(recipient_fields(config, secret, s), ensure_ascii=False), plan.watermark)
                for s, index, _ in plan.messages
            ),
        )
    return plan


def preview(config: Config, name: str, address: str | None, out: Path, now: datetime) -> tuple[Path, Path] | None:
    """Write the message ``address`` would get now as .eml and .html, sending nothing; None: no message.

    An address that is not subscribed (by default the digest's own From address)
    is shown what a new reader following every tag would get.
    """
    digest = config.digest(name)
    secret = secret_from_env()
    posts = live_posts(config, now)
    with Store(config.state.path) as store:
        seqs = store.published_seqs()
        clean = valid_address(address, "--to") if address else parse_mailbox(digest.from_address)[1]
        subscriber = store.subscriber(clean)
        watermark = store.watermark(subscriber.id, digest.name) if subscriber else 0
    recipient = subscriber or Subscriber(0, clean, "", None, "active", now)
    plan = plan_run(Renderer(config, digest), posts, seqs, [(recipient, watermark)])
    if not plan.messages:
        return None
    fields = recipient_fields(config, secret, recipient)
    msg = build_message(config, digest, now, now, recipient.id, plan.renders[0], fields)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{digest.name}-{recipient.address}"
    eml, page = out / f"{stem}.eml", out / f"{stem}.html"
    eml.write_bytes(wire_bytes(msg))
    page.write_text(_fill(plan.renders[0].html, fields, escape=True), encoding="utf-8")
    return eml, page
