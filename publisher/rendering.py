"""The shared parts of a digest (subject, text, HTML with its CSS inlined) for a list of posts.

Subscribers who would get the same posts share one render: per-recipient values
(name, address, signed links) are written into the render as placeholders and
filled in when the message is built (message.py). Within a run each post's part
of the templates (their ``post`` block) is rendered and CSS-inlined once, so a
render mostly assembles finished post blocks.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, time, tzinfo
from typing import Any

import css_inline
import jinja2
import nh3
from markupsafe import Markup

from . import i18n
from .config import Config, DigestConfig
from .message import Render, inert, one_line, placeholder
from .model import Post
from .templating import template_environment, template_error

TEMPLATES = ("digest.html.j2", "digest.txt.j2")
EMAIL_URL_SCHEMES = frozenset({"http", "https", "mailto"})
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


class _NotAFragment(Exception):
    """The template's post block cannot be rendered once per post: render the whole template instead."""


class _Scope:
    """What a scoped block is called with in a shell render, in place of Jinja's derived context.

    Jinja makes a whole new context (copies of every variable and block) for each post block; the block
    that replaces it only reads ``post``, which is in the loop's locals. Any other scoped block of the
    template gets the real derived context, made on its first use.
    """

    __slots__ = ("_context", "_locals", "_parent")
    _parent: jinja2.runtime.Context
    _locals: dict[str, Any]
    _context: jinja2.runtime.Context | None

    def __init__(self, parent: jinja2.runtime.Context, local: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_parent", parent)
        object.__setattr__(self, "_locals", local or {})
        object.__setattr__(self, "_context", None)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._locals.get(key, jinja2.utils.missing)
        return self._derived().get(key, default) if value is jinja2.utils.missing else value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._derived(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._derived(), name, value)

    def _derived(self) -> jinja2.runtime.Context:
        if self._context is None:
            object.__setattr__(self, "_context", jinja2.runtime.Context.derived(self._parent, self._locals))
        assert self._context is not None
        return self._context


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
            raise template_error(exc, digest) from None
        self._posts: dict[str, dict[str, Any]] = {}
        # per template: (language, id(post context)) -> the post block rendered alone; None once it cannot be
        self._fragments: dict[jinja2.Template, dict[tuple[str, int], str] | None] = {
            t: {} if _POST_BLOCK in t.blocks else None for t in (self.html_template, self.text_template)
        }
        self._inlined_fragments: dict[tuple[str, int, str], str] = {}  # (language, id(post), css) -> inlined block
        self._inlined_shells: dict[str, tuple[list[str], str, bool]] = {}  # shell -> (inlined, split; css; usable)
        self._checks = _FRAGMENT_CHECKS

    def _post(self, post: Post) -> dict[str, Any]:
        found = self._posts.get(post.id)
        if found is None:
            found = self._posts[post.id] = {
                "title": inert(one_line(post.title)),
                "link": inert(post.url),
                "date": shown_date(post.published, self.digest.tz),
                "author": inert(", ".join(a.name for a in post.authors)),
                "tags": [inert(t.name) for t in post.tags],
                "summary": inert(post.summary),
                "image": inert(post.image),
                "html": Markup(
                    inert(nh3.clean(post.html, url_schemes=set(EMAIL_URL_SCHEMES), link_rel="noopener noreferrer"))
                ),
            }
        return found

    def _fragment(self, template: jinja2.Template, post: dict[str, Any]) -> str:
        """The post block for this post, rendered with site, digest and post only (once per run)."""
        fragments = self._fragments[template]
        assert fragments is not None
        key = (i18n.language(), id(post))
        found = fragments.get(key)
        if found is None:
            context = template.new_context({"site": self.config.site, "digest": self.digest, "post": post})
            try:
                found = fragments[key] = "".join(template.blocks[_POST_BLOCK](context))
            except jinja2.UndefinedError:
                raise _NotAFragment from None
        return found

    def _shell(self, template: jinja2.Template, context: dict[str, Any], html: bool) -> tuple[str, list[int]]:
        """The template rendered with each post block replaced: by the block itself (text) or by a marker."""
        posts = {id(p) for p in context["posts"]}
        placed: list[int] = []

        def block(derived: Any) -> Iterator[str]:  # a _Scope, which Jinja takes for its Context
            post = derived.get("post")
            if id(post) not in posts:  # a post block that is not one of this render's posts
                raise _NotAFragment
            fragment = self._fragment(template, post)
            placed.append(id(post))
            yield _POST_MARKER.format(len(placed) - 1) if html else fragment

        ctx = template.new_context(context)
        ctx.blocks[_POST_BLOCK] = [block]
        ctx.derived = functools.partial(_Scope, ctx)  # type: ignore[method-assign, assignment]
        return "".join(template.root_render_func(ctx)), placed

    def _render_text(self, context: dict[str, Any]) -> str:
        template = self.text_template
        if self._fragments[template] is not None:
            try:
                return self._shell(template, context, html=False)[0]
            except _NotAFragment:
                self._fragments[template] = None
        return template.render(context)

    def _render_html(self, context: dict[str, Any]) -> str:
        template = self.html_template
        if self._fragments[template] is not None:
            try:
                shell, placed = self._shell(template, context, html=True)
            except _NotAFragment:
                self._fragments[template] = None
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
                    self._fragments[template] = None  # e.g. `.wrap p`: a selector reaching outside a post
                    return whole
                self._fragments[template] = None
        return _inliner.inline(template.render(context))

    def _inlined_fragment(self, template: jinja2.Template, post: int, css: str) -> str:
        key = (i18n.language(), post, css)
        found = self._inlined_fragments.get(key)
        if found is None:
            fragments = self._fragments[template]
            assert fragments is not None  # a page is assembled from fragments only while they are on
            fragment = fragments[(key[0], key[1])]
            found = self._inlined_fragments[key] = _fragment_inliner.inline_fragment(fragment, css)
        return found

    def render(self, posts: Iterable[Post], named: bool, language: str | None = None) -> Render:
        """The shared parts for these posts; ``named``: the recipients have a display name; ``language``:
        theirs (None: the site's)."""
        context = {
            "site": self.config.site,
            "digest": self.digest,
            "posts": [self._post(p) for p in posts],
            "subscriber": {
                "name": placeholder("name") if named else "",
                "address": placeholder("address"),
            },
            "unsubscribe_url": placeholder("unsubscribe_url"),
            "manage_url": placeholder("manage_url"),
        }
        try:
            with i18n.speaking(language or self.config.site.language):
                subject = self.subject_template.render(context)
                text = self._render_text(context)
                page = self._render_html(context)
        except jinja2.TemplateError as exc:
            raise template_error(exc, self.digest) from None
        return Render(one_line(subject), text, page)


def shown_date(published: datetime, zone: tzinfo) -> datetime:
    """The date a digest shows: a post with a time, in the digest's zone; a date-only post (midnight
    in its own zone, as content.py reads ``date: 2012-04-25``) keeps its own date in every zone."""
    return published if published.time() == time() else published.astimezone(zone)
