"""The pages anyone may read: the front page, tag pages, feeds and the stylesheet.

They read what the last publish kept (state.web_tags, the feeds folder) and never a post,
so a request costs what it shows. The sign-up, confirm, manage and unsubscribe flows are
in views.py, beside the helpers these pages share with them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import jinja2
from flask import Response, abort, current_app, request, send_from_directory

from .config import Config
from .feedspec import tag_spec
from .formats import FORMATS, FeedFormat
from .model import Tag
from .opml import FILE_NAME as OPML_FILE
from .opml import MEDIA_TYPE as OPML_TYPE
from .opml import opml
from .tagindex import TagSummary
from .views import STYLE, _form_context, _page, _site, _store, _url

FEED_MAX_AGE = 300
PER_PAGE = 48  # tags on a page of the front page
MAX_QUERY = 100
MAX_OPML_TAGS = 1000  # tags one OPML request may ask for
_ARCHIVE_PAGE = re.compile(r"[1-9][0-9]*(\.[a-z.]+)")


@dataclass(frozen=True)
class Feed:
    """A feed link as a page shows it."""

    label: str  # "Atom"
    type: str  # its media type
    path: str  # under the feeds folder


@dataclass(frozen=True)
class TagRow:
    """A tag as the pages list it: its summary and its feeds."""

    tag: TagSummary
    feeds: tuple[Feed, ...]


def _feeds(config: Config, folder_of: Callable[[str], str], wanted: bool) -> tuple[Feed, ...]:
    if not wanted:
        return ()
    return tuple(Feed(FORMATS[fmt].label, FORMATS[fmt].media_type, folder_of(fmt)) for fmt in config.feeds.formats)


def _row(config: Config, tag: TagSummary) -> TagRow:
    spec = tag_spec(config, Tag(tag.name, tag.slug))
    return TagRow(tag, _feeds(config, spec.path, config.feeds.tags))


def _page_number() -> int:
    number = request.args.get("page", "1")
    if not number.isdigit() or not 1 <= int(number) <= 100_000:
        abort(404)
    return int(number)


def index() -> Response:
    config = _site().config
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    number = _page_number()
    with _store() as db:
        total, tags = db.web_tags.page(query, (number - 1) * PER_PAGE, PER_PAGE)
    if number > 1 and not tags:
        abort(404)
    site_feeds = _feeds(config, lambda fmt: FORMATS[fmt].file_name, config.feeds.site)
    return _page(
        "web-index.html.j2",
        tags=tags,
        tag_url=_url("tag_page", slug="-")[:-1],  # + a slug (ASCII, URL-safe): not one url_for per tag
        total=total,
        query=query,
        page=number,
        pages=max(1, -(-total // PER_PAGE)),
        site_feeds=site_feeds,
        opml=config.feeds.opml and config.feeds.tags,
        **_form_context(),
    )


def tag_page(slug: str) -> Response:
    with _store() as db:
        tag = db.web_tags.one(slug)
    if tag is None:
        abort(404)
    return _page("web-tag.html.j2", row=_row(_site().config, tag), zone=_site().config.site.tz, **_form_context())


def _feed_format(config: Config, name: str) -> FeedFormat | None:
    """The configured format of a feed file's path: a subscription document or an archive page."""
    folder, _, file = name.rpartition("/")
    page = _ARCHIVE_PAGE.fullmatch(file) if folder == "archive" or folder.endswith("/archive") else None
    for fmt in config.feeds.formats:
        kind = FORMATS[fmt]
        if kind.file_name == file or (page and kind.archive_suffix and page.group(1) == kind.archive_suffix):
            return kind
    return None


def feed(name: str) -> Response:
    config = _site().config
    kind = _feed_format(config, name)
    media_type = OPML_TYPE if name == OPML_FILE and config.feeds.opml else kind and kind.media_type
    if not media_type:
        abort(404)
    response = send_from_directory(
        config.feeds.folder, name, mimetype=media_type, conditional=True, etag=True, max_age=FEED_MAX_AGE
    )
    response.headers["Content-Type"] = f"{media_type}; charset=utf-8"
    return response


def chosen_opml() -> Response:
    """An OPML of the tag feeds a reader ticked (?tag=slug, repeated): the same builder as the
    site's feeds.opml. Unknown slugs are left out; none known is a 404."""
    config = _site().config
    if not (config.feeds.opml and config.feeds.tags):
        abort(404)
    slugs = list(dict.fromkeys(request.args.getlist("tag")))[:MAX_OPML_TAGS]
    with _store() as db:
        found = [tag for tag in map(db.web_tags.one, slugs) if tag is not None]
    if not found:
        abort(404)
    title = f"{config.site.title}: {', '.join(t.name for t in found)}"
    data = opml(config, title, (tag_spec(config, Tag(t.name, t.slug)) for t in found))
    response = Response(data, mimetype=OPML_TYPE)
    response.headers["Content-Type"] = f"{OPML_TYPE}; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{OPML_FILE}"'
    return response


def stylesheet(env: jinja2.Environment) -> tuple[bytes, str]:
    """The pages' CSS (a site's templates/web.css first) and a short hash of it for its URL."""
    assert env.loader is not None
    text, _name, _uptodate = env.loader.get_source(env, STYLE)
    data = text.encode()
    return data, hashlib.sha256(data).hexdigest()[:12]


def style() -> Response:
    data, version = current_app.extensions["publisher.style"]
    response = Response(data, mimetype="text/css")
    response.headers["Cache-Control"] = (
        "public, max-age=31536000, immutable" if request.args.get("v") == version else "no-cache"
    )
    return response
