"""A WordPress eXtended RSS export (WXR 1.0-1.2) -> its published posts.

WordPress stores post content with implicit paragraphs (blank lines) and shortcodes
that only its plugins can render; both become plain HTML here.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import unquote
from xml.parsers.expat import ErrorString

from ..config import Config
from ..model import slugify
from ..sanitize import html_to_text, plain_text
from .common import (
    Batch,
    ImportedPost,
    Skipped,
    Source,
    attributes,
    counted,
    fail,
    html_body,
    media_link,
    media_links,
    merge_tags,
    slug_for,
    xml_failure,
)

EXPECTED = "a WordPress export (WXR 1.0–1.2)"
WXR_VERSIONS = ("1.0", "1.1", "1.2")
_WP = "http://wordpress.org/export/{version}/"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_NO_DATE = "0000-00-00 00:00:00"
_TAG_DOMAINS = ("post_tag", "tag")  # "tag" in WXR 1.0
_PLACEHOLDER_CATEGORY = "uncategorized"  # WordPress's name for "no category"

# WordPress's own list of block-level tags, which wpautop never wraps in a paragraph.
_BLOCK = (
    r"(?:table|thead|tfoot|caption|col|colgroup|tbody|tr|td|th|div|dl|dd|dt|ul|ol|li|pre|form|map|area"
    r"|blockquote|address|math|style|p|h[1-6]|hr|fieldset|legend|section|article|aside|hgroup|header"
    r"|footer|nav|figure|figcaption|details|menu|summary)"
)
_COMMENT = re.compile(r"<!--.*?-->", re.S)  # <!--more-->, <!--nextpage-->, block editor markers
_PRE = re.compile(r"<pre\b.*?</pre>", re.S | re.I)
_STASHED = re.compile(r"<pre wp-pre-tag-(\d+)></pre>")
_IN_TAG = re.compile(r"<[^>]*>")
_BEFORE_BLOCK = re.compile(rf"(<{_BLOCK}[\s/>])", re.I)
_AFTER_BLOCK = re.compile(rf"(</{_BLOCK}>|<hr\s*/?>)", re.I)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_P_OPENS_BLOCK = re.compile(rf"<p>\s*(</?{_BLOCK}[^>]*>)", re.I)
_BLOCK_CLOSES_P = re.compile(rf"(</?{_BLOCK}[^>]*>)\s*</p>", re.I)
_NEWLINE = re.compile(r"(?<!<br />)\s*\n")
_BR_AFTER_BLOCK = re.compile(rf"(</?{_BLOCK}[^>]*>)\s*<br />", re.I)
_BR_BEFORE_BLOCK = re.compile(r"<br />(\s*</?(?:p|li|div|dl|dd|dt|th|pre|td|ul|ol)[^>]*>)", re.I)
_CAPTION_PARAGRAPH = re.compile(r"<p>\s*(\[(?:wp_)?caption\b.*?\[/(?:wp_)?caption\])\s*</p>", re.S)
_EMPTY_PARAGRAPH = re.compile(r"<p>\s*</p>\n?")
_SHORTCODE = re.compile(
    r"\[(\[?)([A-Za-z][\w-]*)(?![\w-])([^\[\]]*?)(/?)\](?:(.*?)\[/\2\])?(\]?)",
    re.S,
)
_FIGURE = re.compile(r"\s*((?:<a\b[^>]*>\s*)?<img\b[^>]*>(?:\s*</a>)?)(.*)", re.S | re.I)
_MEDIA = ("audio", "video", "embed")  # become a link to the media
_ATTACHMENT_LISTS = ("gallery", "playlist")  # name attachments we do not import: dropped
# A URL alone on its line, which WordPress shows as an embedded player (oEmbed).
_EMBED_LINE = re.compile(r"^([ \t]*)(https?://[^\s<>\"]+)([ \t]*)$", re.M)
_DRAFTS = ("draft", "auto-draft")  # statuses that are nouns; post types are nouns too


def _parse(source: Source) -> tuple[ET.Element, str]:
    """The <channel> element and the export's wp: namespace URI; a clear error for anything else."""
    try:
        root = ET.fromstring(source.data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise xml_failure(source.name, ErrorString(exc.code), line, column + 1, EXPECTED) from None
    except (LookupError, ValueError) as exc:  # an encoding Python lacks, or a multi-byte one expat cannot use
        raise fail(source.name, f"cannot read its declared encoding ({exc}); save it as UTF-8") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        found = "an Atom feed; use 'publisher import feed'" if root.tag.endswith("}feed") else f"<{root.tag}>"
        raise fail(source.name, f"expected {EXPECTED}; found {found}")
    for wp in (_WP.format(version=version) for version in WXR_VERSIONS):
        if channel.find(f"{{{wp}}}wxr_version") is not None or channel.find(f"item/{{{wp}}}post_type") is not None:
            return channel, wp
    raise fail(
        source.name, f"expected {EXPECTED}; found an RSS feed without wp:wxr_version; use 'publisher import feed'"
    )


def _child_text(element: ET.Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


def _figure(inner: str, caption: str) -> str:
    """[caption]<img> Text[/caption] -> a figure with the image and its caption."""
    found = _FIGURE.fullmatch(inner)
    if not found:
        return inner
    text = (caption or found[2]).strip()
    return f"<figure>{found[1]}<figcaption>{text}</figcaption></figure>" if text else f"<figure>{found[1]}</figure>"


def _shortcode(match: re.Match[str], media: list[str]) -> str:
    before, name, text, _self_closing, inner, after = match.groups()
    if before and after:  # [[name]] is how WordPress writes a literal [name]
        return match[0][1:-1]
    name = name.lower()
    values = attributes(text)
    inner = expand_shortcodes(inner, media) if inner is not None else None
    if name in ("caption", "wp_caption"):
        output = _figure(inner or "", values.get("caption", ""))
    elif name in _MEDIA:
        urls = [inner or ""] if name == "embed" else [values.get("src", ""), *values.values()]
        url = next((u for u in urls if u.strip().startswith(("http://", "https://"))), "")
        media += [url] if url else []
        output = media_link(url, values.get("title", ""))
    elif inner is not None:
        output = inner  # a plugin's wrapper: its text is the content
    elif values or name in _ATTACHMENT_LISTS:
        output = ""  # a plugin's widget (a form, a gallery): nothing to show without it
    else:
        return match[0]  # bracketed text such as "[sic]", not a shortcode
    return before + output + after


def expand_shortcodes(text: str, media: list[str] | None = None) -> str:
    """Shortcodes as HTML a feed reader can show; unknown ones leave their inner text.
    The URLs of media shortcodes made links are added to ``media``."""
    found = [] if media is None else media
    return _SHORTCODE.sub(lambda match: _shortcode(match, found), text)


def wpautop(text: str) -> str:
    """WordPress's implicit paragraphs made real, as its wpautop() does: a blank line ends
    a paragraph, a single newline is a <br />, block-level HTML and <pre> are left alone."""
    kept: list[str] = []

    def stash(match: re.Match[str]) -> str:
        kept.append(match[0])
        return f"<pre wp-pre-tag-{len(kept) - 1}></pre>"

    text = _PRE.sub(stash, _COMMENT.sub("", text.replace("\r\n", "\n")))
    text = _IN_TAG.sub(lambda m: m[0].replace("\n", " "), text)
    text = _AFTER_BLOCK.sub(r"\1\n\n", _BEFORE_BLOCK.sub(r"\n\n\1", text))
    text = "".join(f"<p>{chunk.strip()}</p>\n" for chunk in _PARAGRAPH_BREAK.split(text) if chunk.strip())
    text = _BLOCK_CLOSES_P.sub(r"\1", _P_OPENS_BLOCK.sub(r"\1", text))
    text = _BR_BEFORE_BLOCK.sub(r"\1", _BR_AFTER_BLOCK.sub(r"\1", _NEWLINE.sub("<br />\n", text)))
    return _STASHED.sub(lambda m: kept[int(m[1])], text).strip()


def render_content(text: str) -> tuple[str, int]:
    """A post's stored content as the HTML WordPress shows: paragraphs first, then shortcodes,
    with a caption's paragraph dropped because it becomes a figure. Embedded media (a URL
    on its own line, [embed], [audio], [video], <iframe>, <audio>, <video>) become links
    to the media, as a feed reader cannot play them; the second value counts them."""
    media: list[str] = []

    def embed(match: re.Match[str]) -> str:
        media.append(match[2])
        return match[1] + media_link(match[2]) + match[3]

    html_text = _CAPTION_PARAGRAPH.sub(r"\1", wpautop(_EMBED_LINE.sub(embed, text)))
    html_text, elements = media_links(expand_shortcodes(html_text, media))
    return _EMPTY_PARAGRAPH.sub("", html_text), len(media) + elements


def _post_date(item: ET.Element, wp: str, config: Config) -> datetime | None:
    """The GMT date; a post WordPress never gave one has only its local date, in the site's zone."""
    for tag, zone in (("post_date_gmt", UTC), ("post_date", config.site.tz)):
        value = _child_text(item, f"{{{wp}}}{tag}")
        if value and value != _NO_DATE:
            try:
                return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).astimezone(config.site.tz)
            except ValueError:
                return None
    return None


def _terms(item: ET.Element) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tags and categories, each once, without WordPress's placeholder category."""
    tags: list[str] = []
    categories: list[str] = []
    for element in item.findall("category"):
        name = (element.text or "").strip()
        domain = element.get("domain", "category")
        if not name or (domain == "category" and (element.get("nicename") or slugify(name)) == _PLACEHOLDER_CATEGORY):
            continue
        if domain in _TAG_DOMAINS:
            tags.append(name)
        elif domain == "category":
            categories.append(name)
    return merge_tags(tags), merge_tags(categories)


def _title(item: ET.Element) -> str:
    """The title as text: entities become characters, and a word in angle brackets ("some
    &lt;html&gt; entities" in the export) is a word, not a tag. WordPress strips tags from
    the titles it exports, so no angle bracket in one is markup: it is escaped before
    plain_text, which drops tags."""
    return plain_text(_child_text(item, "title").replace("<", "&lt;").replace(">", "&gt;"))


def _post(item: ET.Element, wp: str, display_names: dict[str, str], config: Config) -> tuple[ImportedPost, int] | str:
    """The item as a post with its number of embeds made links, or WordPress's own word
    for why it is not one ("draft", "page", ...)."""
    post_type = _child_text(item, f"{{{wp}}}post_type") or "post"
    if post_type != "post":
        return post_type
    status = _child_text(item, f"{{{wp}}}status")
    if status != "publish":
        return status or "no status"
    if _child_text(item, f"{{{wp}}}post_password"):
        return "password-protected"
    title = _title(item)
    post_id = _child_text(item, "guid") or _child_text(item, "link")
    published = _post_date(item, wp, config)
    if not title or not post_id or published is None:
        return "no title" if not title else "no guid" if not post_id else "no readable date"
    login = _child_text(item, _CREATOR)
    tags, categories = _terms(item)
    body, embeds = render_content(_child_text(item, _CONTENT))
    post = ImportedPost(
        id=post_id,
        title=title,
        slug=slug_for(unquote(_child_text(item, f"{{{wp}}}post_name")) or title),
        published=published,
        authors=(display_names.get(login.casefold()) or login,) if login else (),
        tags=tags,
        categories=categories,
        summary=html_to_text(_child_text(item, f"{{{wp}excerpt/}}encoded")),
        link=_child_text(item, "link"),
        body=html_body(body, _child_text(item, "link")),
    )
    return post, embeds


def _fallback_id(item: ET.Element, wp: str, guid: str) -> str:
    """An id for a post whose GUID an earlier post has (a copied or migrated post): the GUID
    with the post's own WordPress id, else its post_name, as the fragment."""
    number, name = _child_text(item, f"{{{wp}}}post_id"), _child_text(item, f"{{{wp}}}post_name")
    return f"{guid}#wp-post-{number}" if number else f"{guid}#{name}" if name else ""


def read(source: Source, config: Config) -> Batch:
    """Published posts in export order; everything else skipped and named. A post whose
    GUID repeats an earlier one's is imported under a fallback id, with a note."""
    channel, wp = _parse(source)
    # dc:creator holds the login, not always in the case wp:author_login has it.
    display_names = {
        _child_text(author, f"{{{wp}}}author_login").casefold(): _child_text(author, f"{{{wp}}}author_display_name")
        for author in channel.findall(f"{{{wp}}}author")
    }
    posts = []
    skipped = []
    notes = []
    embeds = 0
    first: dict[str, int] = {}  # id -> number of the item that has it
    for number, item in enumerate(channel.findall("item"), 1):
        title = _title(item)
        what = f'item {number} "{title}"' if title else f"item {number}"
        result = _post(item, wp, display_names, config)
        if isinstance(result, str):
            noun = result in _DRAFTS or result == _child_text(item, f"{{{wp}}}post_type")
            skipped.append(Skipped(what, result, result + "s" if noun else ""))
            continue
        post, found = result
        if post.id in first:
            fallback = _fallback_id(item, wp, post.id)
            if not fallback or fallback in first:
                skipped.append(Skipped(what, f"same GUID as item {first[post.id]}"))
                continue
            notes.append(f"{what}: its GUID {post.id} is also item {first[post.id]}'s; imported with the id {fallback}")
            post = dataclasses.replace(post, id=fallback)
        first[post.id] = number
        posts.append(post)
        embeds += found
    changes = (counted(embeds, "embed became a link", "embeds became links"),) if embeds else ()
    return Batch(tuple(posts), tuple(skipped), notes=tuple(notes), changes=changes)
