"""The Jinja environment shared by the digests and the web pages, and its process-wide bytecode cache."""

from __future__ import annotations

import functools

import jinja2

from . import i18n
from .config import Config, DigestConfig
from .errors import ConfigError


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
    """The site's own templates/ first, then the defaults shipped in the package; HTML autoescaped;
    strings through gettext in the language of ``i18n.speaking``.

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
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's line breaks are not part of its message
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(date=i18n.format_date, number=i18n.format_number, when=i18n.format_when)
    env.filters["wordwrap"] = jinja2.pass_environment(functools.lru_cache(maxsize=4096)(env.filters["wordwrap"]))
    return env


def template_error(exc: jinja2.TemplateError, digest: DigestConfig) -> ConfigError:
    """A template mistake as one line naming the file and line (or the digest), not a traceback."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{exc.filename or exc.name or f'digests.{digest.name}.subject'}:{exc.lineno}"
    else:
        where = f"digest {digest.name!r}"
    return ConfigError(f"template {where}: {exc.message or exc}")
