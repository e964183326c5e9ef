"""(digest, slot, subscriber) -> posts -> EmailMessage, through the Jinja templates.

Selection follows our own publish ledger: a subscriber gets the live posts on
their tags whose ``published.seq`` is above their watermark for this digest,
each post once, newest first. Subscribers who would get the same posts share
one render: per-recipient values (name, address, signed links) are written
into the render as placeholders and filled in when the message is built, so
100,000 subscribers cost a few thousand renders, and the outbox stores only
those renders plus a short row per recipient. Within a run each post's part of
the templates (their ``post`` block) is rendered and CSS-inlined once, so a
render mostly assembles finished post blocks.

A message is built from frozen data only (the run, the shared render and the
recipient's row), so building it again after a crash gives the same bytes,
Message-ID included. Delivery writes those bytes directly (message_bytes); they
are the bytes the email package makes of build_message, which the tests check.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import css_inline
import jinja2
import nh3
from markupsafe import Markup

from .addresses import parse_mailbox
from .config import Config, DigestConfig
from .errors import ConfigError
from .model import Post, Subscriber
from .private import write_private
from .publish import live_posts
from .state import State, open_state
from .subscribers import MANAGE, UNSUBSCRIBE, valid_address
from .tokens import make_token, secret_from_env

TEMPLATES = ("digest.html.j2", "digest.txt.j2")
EMAIL_URL_SCHEMES = frozenset({"http", "https", "mailto"})
BODY_ENCODING = "base64"  # 7-bit safe for any server; quoted-printable is pure Python and 20x slower
# Headers are written up to RFC 5322's hard limit of 998 characters, never encoded: a List-Unsubscribe
# URL longer than 78 would otherwise become an RFC 2047 encoded word that mail clients cannot act on.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)
FIELDS = ("name", "address", "unsubscribe_url", "manage_url")
_json_string = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as it is
_PLACEHOLDER = "@@publisher-{}@@"
_PLACEHOLDERS = re.compile("@@publisher-(" + "|".join(FIELDS) + ")@@")
_LINE_BREAKS = re.compile(r"\s+")
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
_fragment_inliner = css_inline.CSSInliner(load_remote_stylesheets=False)
_POST_BLOCK = "post"
_POST_MARKER = "@@publisher-post-{}@@"
_POST_MARKERS = re.compile(r"@@publisher-post-(\d+)@@")
# Selectors that match by an element's siblings or the document root: a post block inlined on its own
# could get other styles than in its place in the page.
_PLACE_DEPENDENT = re.compile(r":(?:first|last|nth|only)-|:root|:has\(|:not\(|:empty|[+~]")
_FRAGMENT_CHECKS = 8
_STYLES = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)


def _inert(text: str) -> str:
    """Post text cannot fill in a reader's address or links: a placeholder in it is broken up
    with a zero-width space, so what a post says is never replaced per recipient."""
    return text.replace("@@publisher-", "@@publisher\u200b-")


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


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept for the life of the process, keyed by name and checked against the source.

    Every freeze (and the scheduler freezes many) makes a new environment so that a template edited or
    added in the site's templates/ folder is used at once; the source is still read each time and only
    its compilation, the slow part, is skipped while it is unchanged.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _MemoryBytecodeCache()


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
        bytecode_cache=_BYTECODE,
    )
    env.filters["wordwrap"] = jinja2.pass_environment(functools.lru_cache(maxsize=4096)(env.filters["wordwrap"]))
    return env


def _template_error(exc: jinja2.TemplateError, digest: DigestConfig) -> ConfigError:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{exc.filename or exc.name or f'digests.{digest.name}.subject'}:{exc.lineno}"
    else:
        where = f"digest {digest.name!r}"
    return ConfigError(f"template {where}: {exc.message or exc}")


class _NotAFragment(Exception):
    """The template's post block cannot be rendered once per post: render the whole template instead."""


class Renderer:
    """Renders a digest's shared parts; each post is rendered (and its CSS inlined) once per run.

    A template whose per-post part is ``{% block post scoped %}`` gets that block rendered once per post
    with only ``site``, ``digest`` and ``post`` in its context; each group's render then only renders the
    rest of the template (the shell) and puts the finished post blocks in. A template without that
    block, or whose block needs anything else, is rendered whole for every group, as before.
    """

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
        # per template: id(post context) -> the post block rendered alone; None once it cannot be
        self._fragments: dict[str, dict[int, str] | None] = {
            t.name: {} if _POST_BLOCK in t.blocks else None for t in (self.html_template, self.text_template)
        }
        self._inlined_fragments: dict[tuple[int, str], str] = {}  # (id(post context), css) -> inlined block
        self._inlined_shells: dict[str, tuple[list[str], str, bool]] = {}  # shell -> (inlined, split; css; usable)
        self._checks = _FRAGMENT_CHECKS

    def _post(self, post: Post) -> dict[str, Any]:
        found = self._posts.get(post.id)
        if found is None:
            found = self._posts[post.id] = {
                "title": _inert(one_line(post.title)),
                "link": _inert(post.url),
                "date": shown_date(post.published, self.digest.tz),
                "author": _inert(", ".join(a.name for a in post.authors)),
                "tags": [_inert(t.name) for t in post.tags],
                "summary": _inert(post.summary),
                "html": Markup(
                    _inert(nh3.clean(post.html, url_schemes=set(EMAIL_URL_SCHEMES), link_rel="noopener noreferrer"))
                ),
            }
        return found

    def _fragment(self, template: jinja2.Template, post: dict[str, Any]) -> str:
        """The post block for this post, rendered with site, digest and post only (once per run)."""
        fragments = self._fragments[template.name]
        assert fragments is not None
        found = fragments.get(id(post))
        if found is None:
            context = template.new_context({"site": self.config.site, "digest": self.digest, "post": post})
            try:
                found = fragments[id(post)] = "".join(template.blocks[_POST_BLOCK](context))
            except jinja2.UndefinedError:
                raise _NotAFragment from None
        return found

    def _shell(self, template: jinja2.Template, context: dict[str, Any], html: bool) -> tuple[str, list[int]]:
        """The template rendered with each post block replaced: by the block itself (text) or by a marker."""
        posts = {id(p) for p in context["posts"]}
        placed: list[int] = []

        def block(derived: jinja2.runtime.Context) -> Iterator[str]:
            post = derived.get("post")
            if id(post) not in posts:  # a post block that is not one of this render's posts
                raise _NotAFragment
            fragment = self._fragment(template, post)
            placed.append(id(post))
            yield _POST_MARKER.format(len(placed) - 1) if html else fragment

        ctx = template.new_context(context)
        ctx.blocks[_POST_BLOCK] = [block]
        return "".join(template.root_render_func(ctx)), placed

    def _text(self, context: dict[str, Any]) -> str:
        template = self.text_template
        if self._fragments[template.name] is not None:
            try:
                return self._shell(template, context, html=False)[0]
            except _NotAFragment:
                self._fragments[template.name] = None
        return template.render(context)

    def _html(self, context: dict[str, Any]) -> str:
        template = self.html_template
        if self._fragments[template.name] is not None:
            try:
                shell, placed = self._shell(template, context, html=True)
            except _NotAFragment:
                self._fragments[template.name] = None
            else:
                found = self._inlined_shells.get(shell)
                if found is None:
                    css = "\n".join(_STYLES.findall(shell))
                    usable = _PLACE_DEPENDENT.search(css) is None
                    found = self._inlined_shells[shell] = (_POST_MARKERS.split(_inliner.inline(shell)), css, usable)
                split, css, usable = found
                pieces = split.copy()
                # every marker once, in order (not inside an attribute or a comment), and no CSS that
                # depends on a post's place among its siblings
                if usable and [int(n) for n in pieces[1::2]] == list(range(len(placed))):
                    pieces[1::2] = [self._inlined_fragment(template, post, css) for post in placed]
                    page = "".join(pieces)
                    if self._checks == 0:
                        return page
                    self._checks -= 1  # the first renders of a run are also inlined whole and compared
                    whole = _inliner.inline(template.render(context))
                    if page == whole:
                        return page
                    self._fragments[template.name] = None  # e.g. `.wrap p`: a selector reaching outside a post
                    return whole
                self._fragments[template.name] = None
        return _inliner.inline(template.render(context))

    def _inlined_fragment(self, template: jinja2.Template, post: int, css: str) -> str:
        found = self._inlined_fragments.get((post, css))
        if found is None:
            fragment = self._fragments[template.name][post]  # type: ignore[index]
            found = self._inlined_fragments[(post, css)] = _fragment_inliner.inline_fragment(fragment, css)
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
            text = self._text(context)
            page = self._html(context)
        except jinja2.TemplateError as exc:
            raise _template_error(exc, self.digest) from None
        return Render(one_line(subject), text, page)


def shown_date(published: datetime, zone: tzinfo) -> datetime:
    """The date a digest shows: a post with a time, in the digest's zone; a date-only post (midnight
    in its own zone, as content.py reads ``date: 2012-04-25``) keeps its own date in every zone."""
    return published if published.time() == time() else published.astimezone(zone)


def recipient_fields(config: Config, secret: bytes, subscriber: Subscriber) -> dict[str, str]:
    """What differs per recipient: frozen with the run so a resend is identical."""
    base = config.web.base_url
    unsubscribe = make_token(secret, UNSUBSCRIBE, subscriber.id, subscriber.address)
    manage = make_token(secret, MANAGE, subscriber.id, subscriber.address)
    fields = {
        "name": one_line(subscriber.name),
        "address": subscriber.address,
        "unsubscribe_url": f"{base}unsubscribe?token={unsubscribe}",
        "manage_url": f"{base}manage?token={manage}",
    }
    if config.bounces is not None:
        from .bounces import verp_fields

        fields.update(verp_fields(config.bounces, secret, subscriber))
    return fields


def list_unsubscribe(fields: dict[str, str]) -> str:
    """The one-click URL, and a mailto: only where [bounces] reads the mailbox it points to."""
    mailto = fields.get("unsubscribe_mailto")
    return f"<{fields['unsubscribe_url']}>" + (f", <{mailto}>" if mailto else "")


def _fields_json(fields: dict[str, str]) -> str:
    """``json.dumps(fields, ensure_ascii=False)``, character for character, a few times faster."""
    return "{" + ", ".join([f"{_json_string(k)}: {_json_string(v)}" for k, v in fields.items()]) + "}"


@functools.lru_cache(maxsize=64)
def _pieces(text: str) -> list[str]:
    """``text`` split at its placeholders: the field names are at the odd indices (memoised per render)."""
    return _PLACEHOLDERS.split(text)


def _fill(text: str, fields: dict[str, str], escape: bool) -> str:
    pieces = _pieces(text)
    if len(pieces) == 1:
        return text
    out = pieces.copy()
    out[1::2] = [html.escape(fields[name]) if escape else fields[name] for name in pieces[1::2]]
    return "".join(out)


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
    msg["List-Unsubscribe"] = list_unsubscribe(fields)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(_fill(render.text, fields, escape=False), subtype="plain", charset="utf-8", cte=BODY_ENCODING)
    msg.add_alternative(_fill(render.html, fields, escape=True), subtype="html", charset="utf-8", cte=BODY_ENCODING)
    msg.set_boundary("=_" + msg["Message-ID"].strip("<>").partition("@")[0])
    return msg


def wire_bytes(msg: EmailMessage) -> bytes:
    """The bytes handed to SMTP and written to .eml files: CRLF line ends, headers never encoded words."""
    return msg.as_bytes(policy=WIRE_POLICY)


# What message_bytes writes itself; anything else goes through the email package (build_message).
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")  # a display name
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_ADDR_SPEC = re.compile(_DOT_ATOM + "@" + _DOT_ATOM)
_MSG_ID = re.compile(r"<([a-z0-9-]+\.[0-9a-f]+)@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")
_WORDS = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII, single spaces, nothing to fold
_PLAIN_MAX = 900  # well below the 998 at which the email package would start folding


def _plain(text: str, pattern: re.Pattern[str] = _WORDS) -> bool:
    """True when the email package writes this header value as it is: no encoding, no folding."""
    return len(text) <= _PLAIN_MAX and "=?" not in text and pattern.fullmatch(text) is not None


@functools.lru_cache(maxsize=256)
def _header_line(name: str, value: str, mailbox: bool = False) -> bytes:
    """One header line exactly as build_message writes it: the email package's own parsing and folding."""
    return WIRE_POLICY.fold_binary(*policy.SMTP.header_store_parse(name, _mailbox(value) if mailbox else value))


def _base64_body(text: str) -> bytes:
    """What set_content(cte="base64") makes of ``text``: CRLF line ends, 76-character lines, as sent."""
    encoded = binascii.b2a_base64(b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n", newline=False)
    return b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)]) + b"\r\n"


def message_bytes(
    config: Config,
    digest: DigestConfig,
    slot: datetime,
    frozen: datetime,
    subscriber: int,
    render: Render,
    fields: dict[str, str],
) -> bytes:
    """``wire_bytes(build_message(...))`` for the same arguments, byte for byte, without building an EmailMessage.

    The fixed headers come from the email package once per process; the per-recipient ones are written
    here only when the email package would write them unchanged (printable ASCII, single spaces, far
    below the line limit, no encoded-word lookalike); any other recipient gets the full build_message.
    """
    msgid = message_id(config, digest.name, slot, subscriber)
    name, address = fields["name"], fields["address"]
    subject = one_line(_fill(render.subject, fields, escape=False))
    unsubscribe = list_unsubscribe(fields)
    local = _MSG_ID.fullmatch(msgid)
    if not (
        local
        and (not name or _plain(name, _ATOMS))
        and _plain(address, _ADDR_SPEC)
        and _plain(subject)
        and _plain(unsubscribe)
    ):
        return wire_bytes(build_message(config, digest, slot, frozen, subscriber, render, fields))
    boundary = f"=_{local.group(1)}".encode()
    to = f"{name} <{address}>" if name else address
    return b"".join(
        [
            _header_line("From", digest.from_address, mailbox=True),
            f"To: {to}\r\nSubject: {subject}\r\n".encode(),
            _header_line("Date", format_datetime(frozen)),
            f"Message-ID: {msgid}\r\n".encode(),
            _header_line("Reply-To", digest.reply_to, mailbox=True) if digest.reply_to else b"",
            _header_line(
                "List-Id", f"{one_line(config.site.title)} {digest.name} digest <{digest.name}.{config.site.domain}>"
            ),
            f"List-Unsubscribe: {unsubscribe}\r\n".encode(),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n",
            b'Content-Type: multipart/alternative; boundary="%s"\r\n\r\n--%s\r\n' % (boundary, boundary),
            b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n',
            _base64_body(_fill(render.text, fields, escape=False)),
            b"\r\n--%s\r\n" % boundary,
            b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n'
            b"MIME-Version: 1.0\r\n\r\n",
            _base64_body(_fill(render.html, fields, escape=True)),
            b"\r\n--%s--\r\n" % boundary,
        ]
    )


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
        watermark=max(seqs.values(), default=0),  # posts enter the ledger only when really published
    )


def freeze_run(
    config: Config, store: State, digest: DigestConfig, slot: datetime, posts: list[Post], now: datetime, secret: bytes
) -> RunPlan | None:
    """Fix the run's posts and recipients in one transaction; None when this slot was frozen before."""
    renderer = Renderer(config, digest)
    with store.transaction():
        if store.runs.exists(digest.name, slot):
            return None
        plan = plan_run(renderer, posts, store.published.seqs(), store.subscribers.active(digest.name))
        store.runs.insert(
            digest.name,
            slot,
            now,
            plan.posts,
            [(r.subject, r.text, r.html) for r in plan.renders],
            (
                (s.id, index, _fields_json(recipient_fields(config, secret, s)), plan.watermark)
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
    with open_state(config.state) as store:
        seqs = store.published.seqs()
        clean = valid_address(address, "--to") if address else parse_mailbox(digest.from_address)[1]
        subscriber = store.subscribers.by_address(clean)
        watermark = store.subscribers.watermark(subscriber.id, digest.name) if subscriber else 0
    recipient = subscriber or Subscriber(0, clean, "", None, "active", now)
    plan = plan_run(Renderer(config, digest), posts, seqs, [(recipient, watermark)])
    if not plan.messages:
        return None
    fields = recipient_fields(config, secret, recipient)
    msg = build_message(config, digest, now, now, recipient.id, plan.renders[0], fields)
    stem = f"{digest.name}-{recipient.address}"
    eml, page = out / f"{stem}.eml", out / f"{stem}.html"
    write_private(eml, wire_bytes(msg))
    write_private(page, _fill(plan.renders[0].html, fields, escape=True).encode())
    return eml, page
