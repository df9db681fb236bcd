"""GitHub's cmark-gfm, the C CommonMark parser that cmarkgfm ships, called directly.

cmark parses in time linear in its input, whatever the input. cmarkgfm's own Python functions
never free what cmark allocates (the syntax tree and the HTML, about a megabyte for every long
text rendered), so the portal calls the library's public C API itself, through ctypes, and frees
every tree and buffer. It also needs the tree, to show raw HTML as text rather than drop it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

Node = int  # a cmark_node *, as ctypes hands pointers back

# cmark_node_type values (cmark-gfm.h); checked against the library below.
DOCUMENT, BLOCK_QUOTE, LIST, ITEM, CODE_BLOCK = 0x8001, 0x8002, 0x8003, 0x8004, 0x8005
HTML_BLOCK, PARAGRAPH, THEMATIC_BREAK = 0x8006, 0x8008, 0x800A
TEXT, SOFTBREAK, LINEBREAK, CODE, HTML_INLINE = 0xC001, 0xC002, 0xC003, 0xC004, 0xC005
LINK = 0xC009
_TYPE_NAMES = {
    DOCUMENT: b"document",
    BLOCK_QUOTE: b"block_quote",
    LIST: b"list",
    ITEM: b"item",
    CODE_BLOCK: b"code_block",
    HTML_BLOCK: b"html_block",
    PARAGRAPH: b"paragraph",
    THEMATIC_BREAK: b"thematic_break",
    TEXT: b"text",
    SOFTBREAK: b"softbreak",
    LINEBREAK: b"linebreak",
    CODE: b"code",
    HTML_INLINE: b"html_inline",
    LINK: b"link",
}
# The types that never have children.
LEAVES = frozenset(
    {CODE_BLOCK, HTML_BLOCK, THEMATIC_BREAK, TEXT, SOFTBREAK, LINEBREAK, CODE, HTML_INLINE}
)

# cmark options (cmark-gfm.h). Without OPT_UNSAFE (1 << 17) raw HTML and javascript: links
# never reach the output.
OPT_DEFAULT = 0
OPT_STRIKETHROUGH_DOUBLE_TILDE = 1 << 14


class _Mem(ctypes.Structure):
    _fields_ = [
        ("calloc", ctypes.c_void_p),
        ("realloc", ctypes.c_void_p),
        ("free", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
    ]


def _load() -> ctypes.CDLL:
    spec = importlib.util.find_spec("cmarkgfm._cmark")
    if spec is None or spec.origin is None:
        raise ImportError("cmarkgfm is not installed")
    return ctypes.CDLL(spec.origin)


_lib = _load()
_P, _S, _INT = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int


def _c(name: str, restype: Any, *argtypes: Any) -> Any:
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_default_mem = _c("cmark_get_default_mem_allocator", ctypes.POINTER(_Mem))
_ensure_extensions = _c("cmark_gfm_core_extensions_ensure_registered", None)
_find_extension = _c("cmark_find_syntax_extension", _P, _S)
_parser_new = _c("cmark_parser_new", _P, _INT)
_parser_free = _c("cmark_parser_free", None, _P)
_parser_attach = _c("cmark_parser_attach_syntax_extension", _INT, _P, _P)
_parser_feed = _c("cmark_parser_feed", None, _P, _S, ctypes.c_size_t)
_parser_finish = _c("cmark_parser_finish", _P, _P)
_parser_extensions = _c("cmark_parser_get_syntax_extensions", _P, _P)
_render_html = _c("cmark_render_html", _P, _P, _INT, _P)
_render_plaintext = _c("cmark_render_plaintext", _P, _P, _INT, _INT)
_node_new = _c("cmark_node_new", _P, _INT)
_node_free = _c("cmark_node_free", None, _P)
_node_type_string = _c("cmark_node_get_type_string", _S, _P)
_node_set_type = _c("cmark_node_set_type", _INT, _P, _INT)
_node_literal = _c("cmark_node_get_literal", _S, _P)
_node_set_literal = _c("cmark_node_set_literal", _INT, _P, _S)
_node_url = _c("cmark_node_get_url", _S, _P)
_node_insert_before = _c("cmark_node_insert_before", _INT, _P, _P)
_node_append_child = _c("cmark_node_append_child", _INT, _P, _P)
_node_replace = _c("cmark_node_replace", _INT, _P, _P)
_node_unlink = _c("cmark_node_unlink", None, _P)
_consolidate_text = _c("cmark_consolidate_text_nodes", None, _P)

# Walking a tree, one call per step: the caller keeps its own stack, so no recursion.
node_type: Callable[[Node], int] = _c("cmark_node_get_type", _INT, _P)
first_child: Callable[[Node], Node | None] = _c("cmark_node_first_child", _P, _P)
next_sibling: Callable[[Node], Node | None] = _c("cmark_node_next", _P, _P)


def _check_node_types() -> None:
    """Fail at start-up, not in a page, if the library numbers its node types differently."""
    for node_type, name in _TYPE_NAMES.items():
        node = _node_new(node_type)
        try:
            if not node or _node_type_string(node) != name:
                raise ImportError(f"cmark numbers its {name.decode()} nodes differently")
        finally:
            if node:
                _node_free(node)


_check_node_types()
_ensure_extensions()
# cmark-gfm switches its extensions' characters on and off in a table shared by every parser,
# at the start and end of each parse: two parses at once in two threads would spoil each other's
# ~~strikethrough~~ and tables. One parse at a time; each takes milliseconds.
_one_at_a_time = threading.Lock()


def extension(name: str) -> int:
    found = _find_extension(name.encode())
    if not found:
        raise ValueError(f"cmark has no extension called {name!r}")
    return int(found)


def to_html(
    text: str,
    *,
    options: int,
    extensions: Sequence[int] = (),
    rewrite: Callable[[Node], None] | None = None,
) -> str:
    """HTML for a Markdown text; `rewrite` may change the syntax tree before it is rendered."""
    # A lone surrogate cannot be UTF-8: it becomes "?" rather than an error.
    source = text.encode("utf-8", "replace")
    with _one_at_a_time:
        return _parse_and_render(source, options, extensions, rewrite)


def _parse_and_render(
    source: bytes,
    options: int,
    extensions: Sequence[int],
    rewrite: Callable[[Node], None] | None,
) -> str:
    parser = _parser_new(options)
    if not parser:
        raise MemoryError
    try:
        for found in extensions:
            _parser_attach(parser, found)
        _parser_feed(parser, source, len(source))
        root = _parser_finish(parser)
        if not root:
            raise MemoryError
        try:
            _consolidate_text(root)  # "[" and "a" were two nodes: one is quicker to walk
            if rewrite is not None:
                rewrite(root)
            html = _taken(_render_html(root, options, _parser_extensions(parser)))
            return html.decode("utf-8", "replace")
        finally:
            _node_free(root)
    finally:
        _parser_free(parser)


def _taken(buffer: int | None) -> bytes:
    """The bytes of a string cmark allocated, which it leaves to the caller to free."""
    if not buffer:
        raise MemoryError
    try:
        return ctypes.string_at(buffer)
    finally:
        _default_mem().contents.free(buffer)


def literal(node: Node) -> bytes:
    return _node_literal(node) or b""


def plain_text(node: Node) -> bytes:
    """The words of the node and everything in it, without markup."""
    return _taken(_render_plaintext(node, OPT_DEFAULT, 0))


def url(node: Node) -> bytes:
    return _node_url(node) or b""


def children(node: Node) -> Iterator[Node]:
    """The node's children, each taken before it is yielded, so the caller may move it."""
    while child := first_child(node):
        yield child


def make_text(node: Node) -> None:
    """Turn an inline node (raw HTML, say) into plain text with the same characters."""
    text = literal(node)
    if not (_node_set_type(node, TEXT) and _node_set_literal(node, text)):
        raise ValueError("cmark refused to make the node text")


def replace_with_paragraph(node: Node, text: bytes) -> None:
    """Put a paragraph holding `text` where a block node stood, and free the block."""
    paragraph, words = _node_new(PARAGRAPH), _node_new(TEXT)
    if not (paragraph and words):
        raise MemoryError
    if not (_node_set_literal(words, text) and _node_append_child(paragraph, words)):
        _node_free(words)
        _node_free(paragraph)
        raise ValueError("cmark refused to build a paragraph")
    if not _node_replace(node, paragraph):
        _node_free(paragraph)  # and the words in it
        raise ValueError("cmark refused to replace the block")
    _node_free(node)


def unwrap(node: Node) -> None:
    """Put the node's children in its place, and free the node."""
    _move_children_before(node, node)
    _node_unlink(node)
    _node_free(node)


def _move_children_before(parent: Node, anchor: Node) -> None:
    for child in children(parent):
        if not _node_insert_before(anchor, child):
            raise ValueError("cmark refused to move a node")
