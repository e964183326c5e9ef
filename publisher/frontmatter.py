"""A post file's front matter: YAML (---) or TOML (+++), split from the Markdown body.

Most front matter is one "key: value" per line; that form is read by a fast path
that gives what yaml.load gives, several times faster, and anything else goes to
the YAML parser, which leaves dates as text so a bad date is reported with its
key and line.
"""

from __future__ import annotations

import functools
import re
import tomllib
from typing import Any

import yaml

_TOML_LINE = re.compile(r"at line (\d+)")


class _YamlLoader(yaml.CSafeLoader):
    """Safe YAML that leaves dates as text, so a bad date is reported with its key and line."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


# The front matter most posts have: one "key: value" per line, the value a quoted or
# plain string or a flow list of them. Anything else goes to the YAML parser.
# (Greedy, with the trailing spaces stripped after: a lazy ".*?" before "[ ]*" tries to end
# at every character, six times slower on a title.)
_SIMPLE_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?:[ ]+(.*))?")


_FLOW_ITEM = re.compile(r"""[ ]*("[^"\\]*"|'(?:[^']|'')*'|[^\s"',\[\]{}#&*!|>%@`?:-][^,\[\]{}#:]*?)[ ]*(?:,|$)""")


_PLAIN_START = re.compile(r"""[^\s"',\[\]{}#&*!|>%@`?:-]""")


# First character -> the patterns of plain scalars YAML reads as something other than a string.
_NOT_TEXT = {first: [regexp for _tag, regexp in pairs] for first, pairs in _YamlLoader.yaml_implicit_resolvers.items()}


def _yaml_string(token: str, flow: bool) -> str | None:
    """A scalar token as YAML reads it, when YAML reads it as a string; None otherwise."""
    if not token.isprintable():
        return None
    quote = token[0]
    if quote in "\"'":
        inner = token[1:-1]
        if len(token) < 2 or token[-1] != quote:
            return None
        if quote == '"':
            return inner if '"' not in inner and "\\" not in inner else None
        return inner.replace("''", "'") if "'" not in inner.replace("''", "") else None
    if ": " in token or " #" in token or token.endswith(":") or not _PLAIN_START.match(token):
        return None
    if flow and any(c in token for c in ",[]{}"):
        return None
    if any(regexp.match(token) for regexp in _NOT_TEXT.get(token[0], ())):
        return None  # a number, a boolean or a null
    return token


@functools.lru_cache(maxsize=256)
def _string_key(key: str) -> bool:
    """Whether YAML reads a key as a string (not "yes", "null"...): posts repeat the same few keys."""
    return _yaml_string(key, False) is not None


def _simple_yaml(source: str) -> dict[str, Any] | None:
    """What yaml.load gives for the common front matter, several times faster; None for the rest."""
    if any(c in source for c in "\x85\u2028\u2029"):
        return None  # line breaks to YAML, not to str.split("\n")
    meta: dict[str, Any] = {}
    for line in source.split("\n"):
        if not line.strip(" ") or line.startswith("#"):
            continue
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None or len(line) > 1024 or not _string_key(key := match.group(1)):
            return None
        value = (match.group(2) or "").rstrip(" ")
        if not value:
            meta[key] = None
            continue
        parsed = _flow_items(value[1:-1]) if value[0] == "[" and value[-1] == "]" else _yaml_string(value, False)
        if parsed is None:
            return None
        meta[key] = parsed
    return meta or None


def _flow_items(inner: str) -> list[str] | None:
    """The strings of a one-line flow list such as ``["UNPoA", 'ATT', small arms]``."""
    items, pos = [], 0
    while pos < len(inner) and inner[pos:].strip(" "):
        match = _FLOW_ITEM.match(inner, pos)
        if match is None or (item := _yaml_string(match.group(1), True)) is None:
            return None
        items.append(item)
        pos = match.end()
    return items if not inner.rstrip(" ").endswith(",") else None


class BadPost(Exception):
    """Raised while reading one file; turned into a ContentProblem by the caller."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML (---) or TOML (+++) front matter from the Markdown body.

    Only the front matter is cut into lines; the body is sliced off whole.
    """
    newline = text.find("\n")
    opener = (text if newline < 0 else text[:newline]).rstrip()
    if opener not in ("---", "+++"):
        raise BadPost("no front matter: expected a first line of '---' (YAML) or '+++' (TOML)", 1)
    closers = ("---", "...") if opener == "---" else ("+++",)
    start = line = newline + 1
    while newline >= 0:
        newline = text.find("\n", line)
        if (text[line:] if newline < 0 else text[line:newline]).rstrip() in closers:
            break
        line = newline + 1
    else:
        raise BadPost(f"front matter opened with '{opener}' is never closed", 1)
    source = text[start : max(line - 1, start)]
    if opener == "---":
        try:
            meta = _simple_yaml(source)
            if meta is None:
                meta = yaml.load(source, Loader=_YamlLoader) if source.strip() else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise BadPost(f"invalid YAML front matter: {problem}", mark.line + 2 if mark else 1) from exc
    else:
        try:
            meta = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_LINE.search(str(exc))
            raise BadPost(f"invalid TOML front matter: {exc}", int(found.group(1)) + 1 if found else 1) from exc
    if not isinstance(meta, dict):
        raise BadPost("front matter must be a mapping of field names to values", 2)
    return {str(k).lower(): v for k, v in meta.items()}, "" if newline < 0 else text[newline + 1 :]
