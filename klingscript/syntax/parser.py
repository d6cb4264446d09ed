"""Source text to syntax tree.

``parse(text, path)`` never raises on bad input: it returns a ``Document`` (as
much of the file as could be read) and the syntax diagnostics. A syntax error
does not hide the rest of the file: the offending line (with the block it
opens) is set aside and the parse resumes at the next line.

The grammar (``grammar/klingscript.lark``) is LALR(1) with Lark's contextual
lexer and an indentation post-lexer. The parser is Lark's standalone parser for
it, generated into ``_lark_standalone.py`` (``scripts/gen_lark_standalone.py``),
so parsing does not import Lark nor build or load parse tables.
"""

from __future__ import annotations

import threading
from typing import NamedTuple, Optional

from . import ast as A, blocks
from .positions import lone_cr_as_lf
from .shapes import (DIALOGUE_RE, DIALOGUE_START_RE, DURATION_RE, ELEMENT_HEAD_RE, ESCAPE_RE, KEY_RE, REF_RE,
                     MISSPELT_SHOT_RE, SCENE_HEAD_RE, SHOT_RE, SHOT_WITHOUT_COLON_RE, STRAIGHT_STRING_RE, is_blank, starts_block)
from ..diagnostics.codes import make
from ..diagnostics.model import Diagnostic
from ..model.languages import classify_direction_item
from ..model.settings import DOCUMENT_ONLY, SCENE_SETTINGS, join_and, nearest

_parser = None
_parser_lock = threading.Lock()

_Span = A.Span
_tuple_new = tuple.__new__  # a node from a tuple of its fields, without keyword arguments

# Line tokens that may take the line break after them, and their names when they do.
_WITH_LINE_BREAK = {"SHOT_LINE": "SHOT_LINE_NL", "DIALOGUE_LINE": "DIALOGUE_LINE_NL", "TEXT": "TEXT_NL"}


def _make_indenter():
    from ._lark_standalone import Indenter, Token

    class KlsIndenter(Indenter):
        NL_type = "_NL"
        OPEN_PAREN_types: list = []
        CLOSE_PAREN_types: list = []
        INDENT_type = "_INDENT"
        DEDENT_type = "_DEDENT"
        tab_len = 4

        def process(self, stream):
            self.bad_dedents = []
            return super().process(stream)

        def _process(self, stream):
            # As Indenter._process (there are no brackets), but a line token that
            # took its line break is renamed (TEXT -> TEXT_NL) and is a line break too.
            token = None
            for token in stream:
                kind = token.type
                if kind == "_NL":
                    yield from self.handle_NL(token)
                elif kind in _WITH_LINE_BREAK and "\n" in token:
                    token.type = _WITH_LINE_BREAK[kind]
                    yield from self.handle_NL(token)
                else:
                    yield token
            while len(self.indent_level) > 1:
                self.indent_level.pop()
                yield Token.new_borrow_pos(self.DEDENT_type, "", token)

        def handle_NL(self, token):
            yield token
            indent_str = token.rsplit("\n", 1)[1]
            indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
            if indent > self.indent_level[-1]:
                self.indent_level.append(indent)
                yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            else:
                while indent < self.indent_level[-1]:
                    if indent > self.indent_level[-2]:
                        # A dedent to no enclosing level: report it and treat the
                        # line as part of the block it fell inside.
                        self.bad_dedents.append((token.end_line, indent, self.indent_level[-1]))
                        break
                    self.indent_level.pop()
                    yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)

    return KlsIndenter()


def get_parser():
    """The shared LALR parser: Lark's standalone parser for grammar/klingscript.lark
    (``parser="lalr", lexer="contextual", maybe_placeholders=False``) with the indenter.

    Kept because it pays (docs/decisions.md): importing and loading it inside
    ``klingc check`` takes 15 ms where Lark with its table cache took 58 ms (best,
    loaded machine); ``check`` on the feature script 6–14% faster, on a one-scene
    script 24–31%.
    """
    global _parser
    if _parser is None:
        with _parser_lock:
            if _parser is None:
                from ._lark_standalone import Lark_StandAlone
                _parser = Lark_StandAlone(postlex=_make_indenter())
    return _parser


# Words a writer understands for the parser's terminals.
_EXPECTED_WORDS = {
    "KEY": "a setting such as `title: …`",
    "USE": "`use \"file.kls\"`",
    "KIND": "an element (`character`, `animal`, `location` or `prop`)",
    "SCENE": "a `scene \"Title\":`",
    "NAME": "a name",
    "REF": "a reference such as `@Name`",
    "STRING": "a quoted string",
    "DURATION": "a duration such as `(10s)`",
    "COLON": "`:`",
    "AT": "`at @Location`",
    "COMMA": "`,`",
    "_NL": "the end of the line",
    "TEXT": "text",
    "SHOT_LINE": "a shot such as `Shot 1 (3s): …`",
    "SHOT_LINE_NL": "a shot such as `Shot 1 (3s): …`",
    "DIALOGUE_LINE": "a dialogue line such as `@Name: \"…\"`",
    "DIALOGUE_LINE_NL": "a dialogue line such as `@Name: \"…\"`",
    "TEXT_NL": "text",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "the end of the file",
}

MAX_SYNTAX_ERRORS = 100


class _Source:
    """Maps positions in a padded parse text (a file's or a block's) back to the file.

    The padded text is the parsed lines with a newline before them (so that a
    comment or blank line can open the text) and after them. Its line ``p``
    is file line ``p - 1 + base``; an offset in it, less ``shift``, is an
    offset in the file as written.
    """

    def __init__(self, padded: str, path: str, first_line: int = 1, first_offset: int = 0):
        self.path = path
        self.padded = padded
        self.base = first_line - 1
        self.shift = 1 - first_offset
        # Offsets come from line and column in the text as written: after error
        # recovery has set lines aside, the parser's own offsets are shifted.
        self.starts = [0]
        i = padded.find("\n")
        while i != -1:
            self.starts.append(i + 1)
            i = padded.find("\n", i + 1)

    @classmethod
    def of_file(cls, text: str, path: str) -> "_Source":
        bom = text.startswith("\ufeff")
        # A lone carriage return ends a line, as in LSP (``positions.LINE_END``): it is read
        # as a line feed, the same length, so offsets do not move.
        body = lone_cr_as_lf(text[1:] if bom else text)
        # The trailing newline closes the last line for the indenter.
        return cls("\n" + body + ("" if body.endswith("\n") else "\n"), path, 1, 1 if bom else 0)

    def offset(self, line: int, column: int) -> int:
        return self.starts[min(line, len(self.starts)) - 1] + column - 1 - self.shift

    def span(self, line: int, column: int, end_line: int, end_column: int) -> A.Span:
        base = self.base - 1
        return A.Span(self.path, line + base, column, end_line + base, end_column,
                      self.offset(line, column), self.offset(end_line, end_column))

    def tok(self, t) -> A.Span:
        line, column = t.line, t.column
        if t.end_line != line:
            return self.span(line, column, t.end_line, t.end_column)
        # A token on one line (every token the builder reads): its length is its width.
        start = self.starts[line - 1] + column - 1 - self.shift
        width = t.end_column - column
        line += self.base - 1
        return _tuple_new(_Span, (self.path, line, column, line, column + width, start, start + width))


class BlockResult(NamedTuple):
    """What one block's parse gives: its items and its diagnostics, by kind.

    ``parse`` lists a file's diagnostics as the whole-file parser did: the
    tab errors, then every block's syntax errors, then every block's
    indentation errors, then every block's errors found while building the
    tree. ``errors`` counts the syntax errors (against the file's cap);
    ``capped`` says the cap was reached in this block, so that no later block
    is read.
    """
    items: tuple
    syntax: tuple
    dedents: tuple
    built: tuple
    errors: int
    capped: bool


def parse(text: str, path: str = "<input>") -> tuple[A.Document, list[Diagnostic]]:
    """Parse KlingScript source into a Document and syntax diagnostics.

    The text is cut into its top-level blocks (``blocks.ranges``) and each
    block is parsed on its own by ``parse_block``, so a syntax error is
    recovered from by re-reading its block only.
    """
    src = _Source.of_file(text, path)
    diags: list[Diagnostic] = []
    if "\x00" in text:
        # Point at the first NUL byte (the span must lie inside the file).
        import bisect
        at = src.padded.index("\x00")
        pline = bisect.bisect_right(src.starts, at)
        col = at - src.starts[pline - 1] + 1
        span = src.span(pline, col, pline, col + 1)
        diags.append(make("KLS100", span, "this is not a KlingScript file: it contains binary data",
                          help="klingc reads UTF-8 text files (.kls)"))
        return A.Document(path, (), (), span), diags
    cut = _split(src, path)
    diags.extend(cut.tabs)
    results = []
    budget = MAX_SYNTAX_ERRORS
    for block in cut.blocks:
        result = parse_block(block.text, block.line, block.offset, path, budget)
        results.append(result)
        budget -= result.errors
        if result.capped:
            break
    return assemble(path, text, len(cut.lines) - 2, diags, cut.comments, results)


class Block(NamedTuple):
    """A top-level block of a file: a setting, `use`, element or scene (and what follows it)."""
    is_scene: bool
    line: int            # its first line, as a padded line index (= the file's line number)
    offset: int          # its first character's offset in the file
    text: str


class FileBlocks(NamedTuple):
    lines: list          # the padded lines (index i = file line i)
    tabs: list           # KLS101 for tabs in the indentation (the file as a whole)
    comments: list       # every comment line
    blocks: list         # Block, in order


def split_file(text: str, path: str) -> FileBlocks:
    """``text`` cut into its top-level blocks (``blocks.ranges``), each to be parsed on its
    own by ``parse_block``; the file's tab diagnostics and comments with them. ``text`` must
    hold no NUL byte (``parse`` reports those)."""
    return _split(_Source.of_file(text, path), path)


def _split(src: "_Source", path: str) -> FileBlocks:
    lines = src.padded.split("\n")  # index i = padded line i+1 = file line i
    tabs: list[Diagnostic] = []
    _scan_tabs(src, lines, tabs)
    comments = _scan_comments(src, lines)
    out = []
    for start, end in blocks.ranges(lines, 1, len(lines) - 1):
        if start > 1 or starts_block(lines[start]) or not all(map(is_blank, lines[start:end])):
            out.append(Block(bool(SCENE_HEAD_RE.match(lines[start])), start, src.offset(start + 1, 1),
                             "\n".join(lines[start:end]) + "\n"))
    return FileBlocks(lines, tabs, comments, out)


def assemble(path: str, text: str, line_count: int, diags: list[Diagnostic], comments: list[A.Comment],
             results: list[BlockResult]) -> tuple[A.Document, list[Diagnostic]]:
    """The Document of a file from its blocks' results, in order, and its diagnostics.

    ``diags`` holds the diagnostics found in the file as a whole (tabs), and
    is extended.
    """
    items = []
    for r in results:
        items.extend(r.items)
    for kind in (1, 2, 3):  # syntax, dedents, built
        for r in results:
            diags.extend(r[kind])
    end_line = max(1, line_count)
    doc_span = A.Span(path, 1, 1, end_line + 1, 1, 0, len(text))
    return A.Document(path, tuple(items), tuple(comments), doc_span), diags


def parse_block(block: str, first_line: int, first_offset: int, path: str,
                budget: int = MAX_SYNTAX_ERRORS) -> BlockResult:
    """Parse one block: its lines, each ended by "\\n", starting at file line ``first_line``
    (1-based) and file offset ``first_offset``.

    Every span is in the file's coordinates. A syntax error sets aside lines
    of this block only (the line and the lines indented under it) and the
    block is read again. ``budget`` is how many syntax errors the file may
    still report; when this block reaches it, the rest of the block is set
    aside and the result is ``capped``.
    """
    from ._lark_standalone import UnexpectedInput

    src = _Source("\n" + block, path, first_line, first_offset)
    lines = src.padded.split("\n")
    syntax: list[Diagnostic] = []
    mended = mend_shot_headers(src, lines)
    parser = get_parser()
    blanked: set[int] = set()
    tree = None
    errors = 0
    capped = False
    while True:
        current = "\n".join(lines)
        try:
            with _parser_lock:
                tree = parser.parse(current)
                bad_dedents = list(parser.options.postlex.bad_dedents)
            break
        except UnexpectedInput as e:
            errors += 1
            diag, line_no = _describe_error(e, src, lines)
            syntax.append(diag)
            if errors >= budget:
                capped = True
                syntax.append(too_many_errors(diag.span))
                for i in range(line_no - 1, len(lines)):
                    lines[i] = ""
                continue
            if not _blank_block(lines, line_no, blanked):
                # Nothing left to set aside: give up on the rest of the block.
                for i in range(len(lines)):
                    lines[i] = ""
        except Exception as e:  # a fault in the parser itself: report, never crash
            syntax.append(make("KLS100", src.span(2, 1, 2, 1),
                               f"the parser could not read this file ({type(e).__name__})"))
            tree = None
            bad_dedents = []
            break

    dedents = dedent_errors(src, lines, bad_dedents)
    built: list[Diagnostic] = []
    items = _Builder(src, lines, built, mended).document(tree) if tree is not None else ()
    return BlockResult(tuple(items), tuple(syntax), tuple(dedents), tuple(built), errors, capped)


def mend_shot_headers(src: _Source, lines: list[str]) -> dict:
    """Read a scene's misspelt shot headers as the shots they meant to be.

    At a scene's own indentation, ``Shot 3 (3s) text`` (no colon) and
    ``shot 3 (3s): text`` (lowercase) are mended in ``lines`` without moving
    a character (a blank after the header becomes the colon, ``shot``
    becomes ``Shot``), so that the line is a shot: the lines after it are not
    "not indented under" the shot before, and the shots after it keep their
    numbers. Returns ``{padded line: (its KLS100, width as written or None)}``;
    the builder reports the KLS100 with the shot, and a colon added at a
    line's end is left out of its span (the width).
    """
    mended: dict = {}
    indent = None  # the indentation of the scene's lines; None outside a scene or before its first line
    in_scene = False
    for i in range(1, len(lines)):
        line = lines[i]
        if is_blank(line):
            continue
        if starts_block(line):
            in_scene, indent = bool(SCENE_HEAD_RE.match(line)), None
            continue
        stripped = line.lstrip(" \t")
        width = len(line) - len(stripped)
        if not in_scene:
            continue
        if indent is None:
            indent = width
        m = MISSPELT_SHOT_RE.match(stripped) if width == indent else None
        if m is None or (m.group("colon") and m.group("word") == "Shot"):
            continue
        body = stripped.rstrip("\r")
        head = "Shot" + body[len(m.group("word")):m.end("head")]
        fix = f"{head}: {body[m.end():].strip()}".rstrip()
        fixed = "Shot" + stripped[len(m.group("word")):]
        written = None
        if m.group("colon"):
            message = "a shot header starts with `Shot`, with a capital S"
        else:
            message = "a shot header needs a `:` after it"
            gap = m.end("head")
            if gap < len(body) and body[gap] in " \t":
                fixed = fixed[:gap] + ":" + fixed[gap + 1:]
            elif gap == len(body):
                fixed = fixed[:gap] + ":" + fixed[gap:]
                written = width + gap
            else:
                continue  # `Shot 3 (3s)text`: left as the action line it is
        span = src.span(i + 1, width + 1, i + 1, width + 1 + m.end("head"))
        mended[i + 1] = (make("KLS100", span, message, help=f"write `{fix}`"), written)
        lines[i] = line[:width] + fixed
    return mended


def too_many_errors(span: A.Span) -> Diagnostic:
    return make("KLS100", span, "too many syntax errors; the rest of the file was not read",
                help="fix the errors above and run klingc check again")


def dedent_errors(src: _Source, lines: list[str], bad_dedents: list) -> list[Diagnostic]:
    """KLS101 for each line the indenter found dedented to no enclosing level."""
    out = []
    for (pline, indent, expected) in bad_dedents:
        text_line = lines[pline - 1] if pline - 1 < len(lines) else ""
        width = len(text_line) - len(text_line.lstrip(" \t"))
        span = _line_span(src, pline, 1, width + 1)
        out.append(make("KLS101", span,
                        f"this line is indented by {indent} but no enclosing block is; "
                        f"the block around it is indented by {expected}",
                        help="indent it exactly as far as the lines of the block it belongs to"))
    return out


def _line_span(src: _Source, pline: int, col: int, end_col: int) -> A.Span:
    """A span on padded line ``pline`` from ``col`` to ``end_col`` (1-based, exclusive)."""
    return src.span(pline, col, pline, end_col)


def _scan_tabs(src: _Source, lines: list[str], diags: list[Diagnostic]) -> None:
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent] and line.strip():
            col = line.index("\t") + 1
            diags.append(make("KLS101", _line_span(src, i + 1, col, col + 1),
                              "a tab in the indentation; KlingScript indents with spaces",
                              help="replace the tab with spaces (klingc fmt does this)"))


def _scan_comments(src: _Source, lines: list[str]) -> list[A.Comment]:
    out = []
    for i, line in enumerate(lines):
        stripped = line.lstrip(" \t")
        if stripped.startswith("#"):
            col = len(line) - len(stripped) + 1
            text = stripped.rstrip("\r").rstrip()
            out.append(A.Comment(text, _line_span(src, i + 1, col, col + len(text))))
    return out


def _blank_block(lines: list[str], pline: int, blanked: set[int]) -> bool:
    """Set aside padded line ``pline`` and the lines indented under it."""
    idx = pline - 1
    # Skip forward to a line that still has content.
    while 0 <= idx < len(lines) and (is_blank(lines[idx]) or idx in blanked):
        idx += 1
    if not (0 <= idx < len(lines)):
        # Fall back to the last line with content.
        idx = len(lines) - 1
        while idx >= 0 and is_blank(lines[idx]):
            idx -= 1
        if idx < 0:
            return False
    line = lines[idx]
    indent = len(line) - len(line.lstrip(" \t"))
    lines[idx] = ""
    blanked.add(idx)
    j = idx + 1
    while j < len(lines):
        nxt = lines[j]
        if not is_blank(nxt) and not nxt.lstrip(" \t").startswith("#"):
            if len(nxt) - len(nxt.lstrip(" \t")) <= indent:
                break
            lines[j] = ""
            blanked.add(j)
        j += 1
    return True


def _describe_error(e, src: _Source, lines: list[str]) -> tuple[Diagnostic, int]:
    """A writer-friendly diagnostic for a Lark error, and the padded line to set aside."""
    from ._lark_standalone import UnexpectedCharacters, UnexpectedToken

    expected = set(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())
    expected -= {"COMMENT", "_DEDENT"}
    if len(expected) > 1:
        expected -= {"$END"}

    if isinstance(e, UnexpectedToken):
        tok = e.token
        ttype = tok.type
        if ttype == "_INDENT":
            pline = tok.end_line
            line = lines[pline - 1] if pline - 1 < len(lines) else ""
            indent = len(line) - len(line.lstrip(" \t"))
            end = len(line.rstrip("\r")) + 1
            return (make("KLS101", _line_span(src, pline, indent + 1, max(indent + 2, end)),
                         "this line is indented, but the line above it does not open a block",
                         help="only lines ending in `:` (elements, scenes, shots) take indented lines under them"),
                    pline)
        if ttype in ("$END", "_DEDENT") or tok.line is None:
            pline = len(lines) - 1
            while pline > 1 and not lines[pline - 1].strip():
                pline -= 1
            line = lines[pline - 1]
            end = len(line.rstrip("\r")) + 1
            return (make("KLS100", _line_span(src, pline, max(1, end - 1), end),
                         "the file ends too early" + _expected_clause(expected, lines, pline)),
                    pline)
        if ttype == "_NL":
            pline = tok.line
            line = lines[pline - 1] if pline - 1 < len(lines) else ""
            end = len(line.rstrip("\r")) + 1
            head = line.strip()
            if "COLON" in expected:
                msg, help = "this line needs a `:` at the end", f"write `{head}:`"
            else:
                msg, help = "the line ends too early" + _expected_clause(expected, lines, pline), None
            return make("KLS100", _line_span(src, pline, max(1, end - 1), end), msg, help=help), pline
        pline, col = tok.line, tok.column
    else:
        assert isinstance(e, UnexpectedCharacters)
        pline, col = e.line, e.column

    line = lines[pline - 1] if pline - 1 < len(lines) else ""
    end = len(line.rstrip("\r")) + 1
    ch = line[col - 1] if col - 1 < len(line) else ""
    if ch in "\"\u201c" and "STRING" in expected | {"STRING"} and not _closed(line[col - 1:]):
        close = "\"" if ch == "\"" else "\u201d"
        return (make("KLS102", _line_span(src, pline, col, end), "this string is never closed",
                     help=f"end it with {close} on the same line"), pline)
    indent = len(line) - len(line.lstrip(" \t"))
    if col == indent + 1 and indent == 0 and expected & {"KEY", "USE", "KIND", "SCENE"}:
        msg = "this line is not a setting, `use`, element or scene"
        help = ("lines of a scene are indented under `scene \"Title\":`; "
                "settings are written `key: value`")
    elif expected and expected <= {"STRING", "_NL"} and "STRING" in expected:
        msg = "expected a quoted string here"
        help = "put the text in double quotes: \"…\""
    else:
        shown = line[col - 1:end - 1]
        shown = shown if len(shown) <= 24 else shown[:24] + "…"
        msg = f"unexpected `{shown}`" + _expected_clause(expected, lines, pline)
        help = None
        if _enclosing_kind(lines, pline) == "element" and col == indent + 1:
            msg = "an element's block holds only its fields"
            help = 'write `description: "…"`, `images: "…"` or `voice: "…"`'
    return make("KLS100", _line_span(src, pline, col, max(col + 1, end)), msg, help=help), pline


def _closed(text: str) -> bool:
    """Whether the string starting ``text`` closes on this line."""
    if text.startswith("\u201c"):
        return "\u201d" in text
    return STRAIGHT_STRING_RE.match(text) is not None


def _enclosing_kind(lines: list[str], pline: int) -> str:
    """``element``, ``scene``, ``shot`` or ``document``: the block a line sits in."""
    line = lines[pline - 1] if pline - 1 < len(lines) else ""
    indent = len(line) - len(line.lstrip(" \t"))
    for i in range(pline - 2, -1, -1):
        prev = lines[i]
        if is_blank(prev) or prev.lstrip(" \t").startswith("#"):
            continue
        p_indent = len(prev) - len(prev.lstrip(" \t"))
        if p_indent < indent:
            head = prev.strip()
            if ELEMENT_HEAD_RE.match(head):
                return "element"
            if head.startswith("scene"):
                return "scene"
            if head.startswith("Shot"):
                return "shot"
            return "block"
    return "document"


def _expected_clause(expected: set[str], lines: list[str], pline: int) -> str:
    words = [_EXPECTED_WORDS.get(t, f"`{t.lower()}`") for t in sorted(expected)]
    if "KEY" in expected and _enclosing_kind(lines, pline) == "element":
        words = ["a field such as `description: \"…\"`" if w == _EXPECTED_WORDS["KEY"] else w for w in words]
    text = join_and(dict.fromkeys(words), "or")
    return f"; expected {text}" if text else ""


# ---------------------------------------------------------------------------
# Building the AST

def _with_lines(shot: A.Shot, lines: list) -> A.Shot:
    """``shot`` with ``lines`` added after its own (built once, however many there are)."""
    return shot._replace(lines=shot.lines + tuple(lines), span=shot.span.to(lines[-1].span))


def parse_duration(text: str, span: A.Span) -> A.Duration:
    m = DURATION_RE.match(text)
    return A.Duration(text, int(m.group(1)) if m else None, span)


def unescape(raw: str) -> tuple[str, bool]:
    if raw.startswith("\u201c"):
        return raw[1:-1], True
    body = raw[1:-1]
    if "\\" not in body:
        return body, False
    return ESCAPE_RE.sub(r"\1", body), False


class _Builder:
    def __init__(self, src: _Source, lines: list[str], diags: list[Diagnostic], mended: Optional[dict] = None):
        self.src = src
        self.lines = lines
        self.diags = diags
        self.mended = mended or {}  # mend_shot_headers: padded line -> (KLS100, width as written)

    # -- tokens --------------------------------------------------------------
    def span(self, tok) -> A.Span:
        return self.src.tok(tok)

    def line(self, tok) -> tuple[str, A.Span]:
        """A line token's text, without the line break it may end with, and its span."""
        text = str(tok)
        brk = text.find("\n")
        if brk < 0:
            return text, self.src.tok(tok)
        text = text[:brk - 1] if text[brk - 1:brk] == "\r" else text[:brk]
        src, line, column = self.src, tok.line, tok.column
        start = src.starts[line - 1] + column - 1 - src.shift
        end = start + len(text)
        line += src.base - 1
        return text, _tuple_new(_Span, (src.path, line, column, line, column + len(text), start, end))

    def text(self, tok) -> A.Text:
        raw, span = self.line(tok)
        stripped = raw.rstrip()
        if len(stripped) != len(raw):
            span = span.sub(0, len(stripped))
        return A.Text(stripped, self.refs(stripped, span) if "@" in stripped else (), span)

    def refs(self, text: str, span: A.Span) -> tuple[A.Ref, ...]:
        if "@" not in text:
            return ()
        return tuple(A.Ref(m.group(1), span.sub(m.start(), m.end() - m.start()))
                     for m in REF_RE.finditer(text))

    def string(self, tok) -> A.Str:
        value, curly = unescape(str(tok))
        return A.Str(value, curly, self.span(tok))

    def comment(self, tok) -> A.Comment:
        text = str(tok).rstrip()
        span = self.span(tok)
        return A.Comment(text, span.sub(0, len(text)))

    # -- items ---------------------------------------------------------------
    def document(self, tree) -> list:
        out = []
        for child in tree.children:
            kind = child.data
            if kind == "setting":
                out.append(self.setting(child))
            elif kind == "use":
                out.append(self.use(child))
            elif kind == "element":
                out.append(self.element(child))
            elif kind == "scene":
                out.append(self.scene(child))
        return out

    def setting(self, tree) -> A.Setting:
        key_tok = tree.children[0]
        m = KEY_RE.match(str(key_tok))
        key_raw = m.group(1) if m else str(key_tok).rstrip(": \t")
        key = " ".join(key_raw.split())
        key_span = self.span(key_tok).sub(0, len(key_raw))
        values: tuple[A.Str, ...] = ()
        bare = None
        comment = None
        last = key_span
        for c in tree.children[1:]:
            if getattr(c, "data", None) == "strings":
                values = tuple(self.string(t) for t in c.children)
                last = values[-1].span
            elif getattr(c, "type", None) in ("TEXT", "TEXT_NL"):
                bare = self.text(c)
                last = bare.span
                if bare.value[:1] in "\"\u201c":
                    self.diags.append(make("KLS102", bare.span, "this string is never closed"
                                           if not _closed(bare.value) else "unexpected text after the string",
                                           help="a value is one quoted string, or plain text without quotes"))
            elif getattr(c, "type", None) == "COMMENT":
                comment = self.comment(c)
        return A.Setting(key, key_span, values, bare, comment, key_span.to(last))

    def use(self, tree) -> A.Use:
        path = self.string(tree.children[0])
        comment = None
        if len(tree.children) > 1:
            comment = self.comment(tree.children[1])
        return A.Use(path, comment, self._line_start(path.span).to(path.span))

    def _line_start(self, span: A.Span) -> A.Span:
        line = self.lines[span.line - self.src.base]  # padded index = file line - base
        col = len(line) - len(line.lstrip(" \t")) + 1
        offset = span.start - (span.column - col)
        return A.Span(span.file, span.line, col, span.line, col, offset, offset)

    def element(self, tree) -> A.Element:
        kind_tok, name_tok = tree.children[0], tree.children[1]
        fields = tuple(self.setting(c) for c in tree.children[2:] if getattr(c, "data", None) == "setting")
        start = self.span(kind_tok)
        end = fields[-1].span if fields else self.span(name_tok)
        return A.Element(str(kind_tok), str(name_tok), self.span(name_tok), fields, start.to(end))

    def scene(self, tree) -> A.Scene:
        children = tree.children
        title = self.string(children[0])
        head_start = self._line_start(title.span)
        duration = None
        location = None
        head_end = title.span
        items = []
        for c in children[1:]:
            t = getattr(c, "type", None)
            if t == "DURATION":
                duration = parse_duration(str(c), self.span(c))
                head_end = duration.span
            elif t == "REF":
                location = A.Ref(str(c)[1:], self.span(c))
                head_end = location.span
            elif t == "COMMENT":
                pass
            elif hasattr(c, "data"):
                items.append(c)
        head_span = head_start.to(head_end)

        settings: list[A.Setting] = []
        preamble: list = []
        shots: list[A.Shot] = []
        after_shot: list = []  # lines at scene indentation after the last shot (KLS101), which it takes
        phase = 0  # 0 settings, 1 preamble, 2 shots
        for c in items:
            kind = c.data
            if kind == "setting":
                s = self.setting(c)
                known = s.key in SCENE_SETTINGS
                if phase == 0 and (s.key == "sound" or known or nearest(s.key, SCENE_SETTINGS + DOCUMENT_ONLY)):
                    settings.append(s)
                    continue
                if s.key == "sound":
                    line = self.sound(s)
                elif known:
                    self.diags.append(make(
                        "KLS100", s.key_span, f"`{s.key}:` is a scene setting, and settings go at the top of the scene",
                        help="move it above the scene's first line"))
                    continue
                else:
                    line = self.setting_as_action(s)
            elif kind == "shot":
                if after_shot:
                    shots[-1] = _with_lines(shots[-1], after_shot)
                    after_shot = []
                shots.append(self.shot(c))
                phase = 2
                continue
            elif kind == "dialogue":
                line = self.dialogue(c.children[0])
            else:
                line = self.action(c.children[0])
            if phase == 2:
                last = shots[-1]
                self.diags.append(make(
                    "KLS101", self._line_start(line.span).to(line.span),
                    f"this line comes after Shot {last.number_text} but is not indented under it",
                    help=f"indent it under `Shot {last.number_text}`, or move it above the first shot"))
                after_shot.append(line)
                continue
            phase = 1
            preamble.append(line)
        if after_shot:
            shots[-1] = _with_lines(shots[-1], after_shot)
        ends = [head_span] + [s.span for s in settings] + [l.span for l in preamble] + [s.span for s in shots]
        last = max(ends, key=lambda s: s.end)
        return A.Scene(title, duration, location, tuple(settings), tuple(preamble), tuple(shots),
                       head_span, head_start.to(last))

    def action(self, tok) -> A.Action:
        t = self.text(tok)
        value = t.value
        # A dialogue line whose string never closes (the pattern needs an opening quote).
        m = DIALOGUE_START_RE.match(value) if ('"' in value or "\u201c" in value) else None
        if m and not _closed(t.value[m.end():]):
            close = "\u201d" if t.value[m.end()] == "\u201c" else "\""
            self.diags.append(make("KLS102", t.span.sub(m.end(), len(t.value) - m.end()),
                                   "this string is never closed", help=f"end it with {close} on the same line"))
        m = SHOT_WITHOUT_COLON_RE.match(value) if value.startswith("Shot") else None
        if m and not t.value[m.end():].lstrip().startswith(":"):
            head = m.group(0).rstrip()
            self.diags.append(make("KLS100", t.span.sub(0, len(head)), "a shot header needs a `:` after it",
                                   help=f"write `{head}: {t.value[m.end():].strip()}`".replace(":  ", ":").rstrip()))
        return A.Action(t, t.span)

    def sound(self, s: A.Setting) -> A.Line:
        if s.values:
            if len(s.values) > 1:
                self.diags.append(make("KLS100", s.values[1].span, "a sound cue takes one quoted string",
                                       help="join the cues into one string"))
            return A.Sound(s.values[0], s.comment, s.span)
        if s.bare is not None:
            self.diags.append(make("KLS100", s.bare.span, "the sound cue must be in quotes",
                                   help=f'write `sound: "{s.bare.value}"`'))
            return A.Sound(A.Str(s.bare.value, False, s.bare.span), None, s.span)
        self.diags.append(make("KLS100", s.key_span, "the sound cue is empty",
                               help='write `sound: "rain on the window"`'))
        return A.Sound(A.Str("", False, s.key_span), None, s.span)

    def setting_as_action(self, s: A.Setting) -> A.Action:
        """A ``word: text`` line that is not a setting is an action line."""
        line = self.lines[s.span.line - self.src.base]
        start = self._line_start(s.key_span)
        raw = line[start.column - 1:].rstrip()
        span = start.sub(0, len(raw))
        text = A.Text(raw, self.refs(raw, span), span)
        return A.Action(text, span)

    def shot(self, tree) -> A.Shot:
        head, head_span = self.line(tree.children[0])
        m = SHOT_RE.match(head)
        num_text = m.group("num")
        number = int(num_text) if num_text.isdecimal() else None  # not "²", which int() refuses
        number_span = head_span.sub(m.start("num"), len(num_text))
        duration = None
        if m.group("dur"):
            duration = parse_duration(m.group("dur"), head_span.sub(m.start("dur"), len(m.group("dur"))))
        text = None
        if m.group("text"):
            value = m.group("text")
            tspan = head_span.sub(m.start("text"), len(value))
            text = A.Text(value, self.refs(value, tspan), tspan)
        written = None
        if self.mended:
            diag, written = self.mended.get(tree.children[0].line, (None, None))
            if diag is not None:
                self.diags.append(diag)
        head_span = head_span.sub(0, m.end("text") if written is None else written - head_span.column + 1)
        end = head_span
        lines: list = []
        for c in tree.children[1:]:
            data = c.data
            if data == "dialogue":
                line = self.dialogue(c.children[0])
            elif data == "action":
                line = self.action(c.children[0])
            else:
                s = self.setting(c)
                if s.key == "sound":
                    line = self.sound(s)
                elif s.key in SCENE_SETTINGS:
                    self.diags.append(make("KLS100", s.key_span,
                                           f"`{s.key}:` is a scene setting and cannot go inside a shot",
                                           help="move it to the top of the scene"))
                    continue
                else:
                    line = self.setting_as_action(s)
            lines.append(line)
            end = line.span
        return A.Shot(number, num_text, number_span, duration, text, tuple(lines), head_span, head_span.to(end))

    def dialogue(self, tok) -> A.Dialogue:
        text, tok_span = self.line(tok)
        m = DIALOGUE_RE.match(text)
        who, how, raw, note = m.group("who", "dir", "str", "comment")
        who_span = tok_span.sub(0, len(who))
        if who[0] == "@":
            speaker = A.Ref(who[1:], who_span)
        else:
            speaker = A.Role(" ".join(who.split()), who_span)
        direction = None
        if how:
            direction = self.direction(how, tok_span.sub(m.start("dir"), len(how)))
        value, curly = unescape(raw)
        line = A.Str(value, curly, tok_span.sub(m.start("str"), len(raw)))
        comment = None
        if note:
            comment = A.Comment(note, tok_span.sub(m.start("comment"), len(note)))
        return A.Dialogue(speaker, direction, line, comment, tok_span.sub(0, m.end("str")))

    def direction(self, raw: str, span: A.Span) -> A.Direction:
        inner = raw[1:-1]
        items: list[A.Text] = []
        tones: list[str] = []
        language = None
        offscreen = False
        pos = 1
        for part in inner.split(","):
            lead = len(part) - len(part.lstrip())
            value = part.strip()
            if value:
                item_span = span.sub(pos + lead, len(value))
                item = A.Text(value, (), item_span)
                items.append(item)
                kind = classify_direction_item(value)
                if kind == "offscreen":
                    offscreen = True
                elif kind == "language":
                    if language is None:
                        language = item
                    else:
                        self.diags.append(make(
                            "KLS104", item_span,
                            f"a line is spoken in one language, and this one already names {language.value}",
                            help=f"keep one of `{language.value}` and `{value}`"))
                else:
                    tones.append(value)
            pos += len(part) + 1
        return A.Direction(tuple(items), tuple(tones), language, offscreen, span)
