"""The KlingScript syntax tree: immutable nodes, each with an exact source span.

Spans count lines and columns from 1, in Unicode code points (so a Korean
syllable or an emoji is one column); ``end_column`` is exclusive, the column
just past the last character. ``start`` and ``end`` are code-point offsets into
the file's text. The language server converts columns to UTF-16 itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Optional, Union


@dataclass(frozen=True, slots=True)
class Span:
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int

    def sub(self, offset: int, length: int) -> "Span":
        """A span inside this single-line span, by code-point offset and length."""
        return Span(self.file, self.line, self.column + offset, self.line,
                    self.column + offset + length, self.start + offset, self.start + offset + length)

    def to(self, other: "Span") -> "Span":
        """The span from the start of this one to the end of ``other``."""
        return Span(self.file, self.line, self.column, other.end_line, other.end_column,
                    self.start, other.end)

    def contains(self, line: int, column: int) -> bool:
        if (line, column) < (self.line, self.column):
            return False
        return (line, column) < (self.end_line, self.end_column) or (
            line == self.end_line and column == self.end_column)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Node:
    pass


@dataclass(frozen=True, slots=True)
class Str(Node):
    """A string literal; ``value`` has escapes resolved and quotes removed."""
    value: str
    curly: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Ref(Node):
    """``@Name``; the span covers the ``@`` and the name."""
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Role(Node):
    """A speaker who is not a declared element: ``Woman``, ``Old Man``."""
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Text(Node):
    """Prose with the references found in it."""
    value: str
    refs: tuple[Ref, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Duration(Node):
    """``(3s)``; ``seconds`` is None when the text is not whole seconds."""
    text: str
    seconds: Optional[int]
    span: Span


@dataclass(frozen=True, slots=True)
class Comment(Node):
    text: str  # including the leading '#'
    span: Span


@dataclass(frozen=True, slots=True)
class Setting(Node):
    """``key: value`` -- a setting, an element field, or a ``sound:`` cue."""
    key: str
    key_span: Span
    values: tuple[Str, ...]      # quoted values
    bare: Optional[Text]         # unquoted value (mutually exclusive with values)
    comment: Optional[Comment]
    span: Span

    @property
    def quoted(self) -> bool:
        return bool(self.values)

    @property
    def value(self) -> str:
        if self.values:
            return self.values[0].value
        return self.bare.value if self.bare else ""

    @property
    def value_span(self) -> Span:
        if self.values:
            return self.values[0].span.to(self.values[-1].span)
        return self.bare.span if self.bare else self.key_span


@dataclass(frozen=True, slots=True)
class Use(Node):
    path: Str
    comment: Optional[Comment]
    span: Span


@dataclass(frozen=True, slots=True)
class Element(Node):
    kind: str                    # character | location | prop
    name: str
    name_span: Span
    fields: tuple[Setting, ...]
    span: Span

    def field(self, key: str) -> Optional[Setting]:
        for f in self.fields:
            if f.key == key:
                return f
        return None

    @property
    def description(self) -> Optional[str]:
        f = self.field("description")
        return f.value if f else None

    @property
    def images(self) -> tuple[Str, ...]:
        f = self.field("images")
        return f.values if f else ()

    @property
    def voice(self) -> Optional[str]:
        f = self.field("voice")
        return f.value if f else None


@dataclass(frozen=True, slots=True)
class Direction(Node):
    """``(panicked, Korean, V.O.)``: tones kept verbatim, one language, off-screen."""
    items: tuple[Text, ...]
    tones: tuple[str, ...]
    language: Optional[Text]     # the item that named a language, as written
    offscreen: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Dialogue(Node):
    speaker: Union[Ref, Role]
    direction: Optional[Direction]
    line: Str
    comment: Optional[Comment]
    span: Span


@dataclass(frozen=True, slots=True)
class Sound(Node):
    text: Str
    comment: Optional[Comment]
    span: Span


@dataclass(frozen=True, slots=True)
class Action(Node):
    text: Text
    span: Span


Line = Union[Dialogue, Sound, Action]


@dataclass(frozen=True, slots=True)
class Shot(Node):
    number: Optional[int]
    number_text: str
    number_span: Span
    duration: Optional[Duration]
    text: Optional[Text]
    lines: tuple[Line, ...]
    head_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Scene(Node):
    title: Str
    duration: Optional[Duration]
    location: Optional[Ref]
    settings: tuple[Setting, ...]  # scene settings, including frames and ambience
    preamble: tuple[Line, ...]
    shots: tuple[Shot, ...]
    head_span: Span
    span: Span

    def setting(self, key: str) -> Optional[Setting]:
        for s in self.settings:
            if s.key == key:
                return s
        return None


Item = Union[Setting, Use, Element, Scene]


@dataclass(frozen=True, slots=True)
class Document(Node):
    path: str
    items: tuple[Item, ...]      # in source order
    comments: tuple[Comment, ...]  # whole-line comments, in source order
    span: Span

    @property
    def settings(self) -> tuple[Setting, ...]:
        return tuple(i for i in self.items if isinstance(i, Setting))

    @property
    def uses(self) -> tuple[Use, ...]:
        return tuple(i for i in self.items if isinstance(i, Use))

    @property
    def elements(self) -> tuple[Element, ...]:
        return tuple(i for i in self.items if isinstance(i, Element))

    @property
    def scenes(self) -> tuple[Scene, ...]:
        return tuple(i for i in self.items if isinstance(i, Scene))

    def setting(self, key: str) -> Optional[Setting]:
        for s in self.settings:
            if s.key == key:
                return s
        return None


def walk(node):
    """Every node below ``node`` (itself included), depth first, in source order."""
    yield node
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Node):
            yield from walk(value)
        elif isinstance(value, tuple):
            for v in value:
                if isinstance(v, Node):
                    yield from walk(v)


def structure(node):
    """The node as nested tuples without spans or comments: equal for equal trees."""
    if isinstance(node, tuple):
        return tuple(structure(v) for v in node)
    if not is_dataclass(node) or isinstance(node, Span):
        return node
    out = [type(node).__name__]
    for f in fields(node):
        if f.name in ("span", "path") or f.name.endswith("_span") or f.name in ("comment", "comments"):
            continue
        out.append((f.name, structure(getattr(node, f.name))))
    return tuple(out)
