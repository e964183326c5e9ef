"""Markdown -> HTML with GitHub's cmark-gfm: CommonMark plus tables, in C, fuzzed for years.

cmarkgfm's own wrapper never frees the document tree it parses nor the HTML it
returns: tens of kilobytes lost per post, hundreds of megabytes over a large
site. This calls the same library and frees both.
"""

from __future__ import annotations

import ctypes

from cmarkgfm import _cmark

_lib, _ffi = _cmark.lib, _cmark.ffi
# The two deallocators the wrapper leaves out, from the same shared library (libc's
# free is what cmark's default allocator uses). A build that does not export them
# (Windows, hidden symbols) leaks as cmarkgfm's wrapper does.
_frees: ctypes.CDLL | None
try:
    _frees = ctypes.CDLL(_cmark.__file__)
    _frees.cmark_node_free.argtypes = _frees.free.argtypes = [ctypes.c_void_p]
    _frees.cmark_node_free.restype = _frees.free.restype = None
except (OSError, AttributeError):
    _frees = None

_lib.cmark_gfm_core_extensions_ensure_registered()
_TABLE = _lib.cmark_find_syntax_extension(b"table")
# Raw HTML passes through ("unsafe") because sanitize.sanitize_html cleans it next.
_OPTIONS = _lib.CMARK_OPT_UNSAFE


def render_markdown(body: str) -> str:
    """The HTML of a Markdown text, raw HTML included.

    cmark writes the character references &#xFFFE; and &#xFFFF; as bytes that are not
    UTF-8: they become U+FFFD rather than stopping the publish.
    """
    parser = _lib.cmark_parser_new(_OPTIONS)
    try:
        _lib.cmark_parser_attach_syntax_extension(parser, _TABLE)
        data = body.encode("utf-8")
        _lib.cmark_parser_feed(parser, data, len(data))
        root = _lib.cmark_parser_finish(parser)
        try:
            html = _lib.cmark_render_html(root, _OPTIONS, _lib.cmark_parser_get_syntax_extensions(parser))
            try:
                text: bytes = _ffi.string(html)
                return text.decode("utf-8", "replace")
            finally:
                if _frees:
                    _frees.free(_address(html))
        finally:
            if _frees:
                _frees.cmark_node_free(_address(root))
    finally:
        _lib.cmark_parser_free(parser)


def _address(pointer: object) -> int:
    return int(_ffi.cast("uintptr_t", pointer))
