"""The KlingScript syntax tree: immutable nodes, each with an exact source span.

Nodes are NamedTuples: immutable, cheap to create (the builder makes tens of
thousands for a feature-length script) and cheap to define (fast start-up:
their annotations are evaluated, as plain classes and ``X | None``, which
``typing.NamedTuple`` checks twice as fast as postponed, string annotations).

Spans count lines and columns from 1, in Unicode code points (so a Korean
syllable or an emoji is one column); ``end_column`` is exclusive, the column
just past the last character. ``start`` and ``end`` are code-point offsets into
the file's text. The language server converts columns to UTF-16 itself.
"""

from typing import NamedTuple


class Span(NamedTuple):
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int

    def sub(self, offset: int, length: int) -> "Span":
        """A span inside this single-line span, by code-point offset and length."""
        col = self[2] + offset
        start = self[5] + offset
        return _new(Span, (self[0], self[1], col, self[1], col + length, start, start + length))

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


_new = tuple.__new__  # builds a Span without the keyword-argument machinery


class Str(NamedTuple):
    """A string literal; ``value`` has escapes resolved and quotes removed."""
    value: str
    curly: bool
    span: Span


class Ref(NamedTuple):
    """``@Name``; the span covers the ``@`` and the name."""
    name: str
    span: Span


class Role(NamedTuple):
    """A speaker who is not a declared element: ``Woman``, ``Old Man``."""
    name: str
    span: Span


class Text(NamedTuple):
    """Prose with the references found in it."""
    value: str
    refs: tuple[Ref, ...]
    span: Span


class Duration(NamedTuple):
    """``(3s)``; ``seconds`` is None when the text is not whole seconds."""
    text: str
    seconds: int | None
    span: Span


class Comment(NamedTuple):
    text: str  # including the leading '#'
    span: Span


class Setting(NamedTuple):
    """``key: value`` -- a setting, an element field, or a ``sound:`` cue."""
    key: str
    key_span: Span
    values: tuple[Str, ...]      # quoted values
    bare: Text | None            # unquoted value (mutually exclusive with values)
    comment: Comment | None
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


class Use(NamedTuple):
    path: Str
    comment: Comment | None
    span: Span


class Element(NamedTuple):
    kind: str                    # character | animal | location | prop
    name: str
    name_span: Span
    fields: tuple[Setting, ...]
    span: Span

    def field(self, key: str) -> Setting | None:
        for f in self.fields:
            if f.key == key:
                return f
        return None

    @property
    def description(self) -> str | None:
        f = self.field("description")
        return f.value if f else None

    @property
    def images(self) -> tuple[Str, ...]:
        f = self.field("images")
        return f.values if f else ()

    @property
    def voice(self) -> str | None:
        f = self.field("voice")
        return f.value if f else None

    @property
    def voice_id(self) -> str | None:
        """``voice id: "…"``: a preset or custom Kling voice."""
        f = self.field("voice id")
        return f.value.strip() or None if f and f.values else None

    @property
    def voice_sample(self) -> Str | None:
        """``voice sample: "voices/mara.wav"``: the clip a custom voice is made from."""
        f = self.field("voice sample")
        return f.values[0] if f and f.values else None


class Direction(NamedTuple):
    """``(panicked, Korean, V.O.)``: tones kept verbatim, one language, off-screen."""
    items: tuple[Text, ...]
    tones: tuple[str, ...]
    language: Text | None        # the item that named a language, as written
    offscreen: bool
    span: Span


class Dialogue(NamedTuple):
    speaker: Ref | Role
    direction: Direction | None
    line: Str
    comment: Comment | None
    span: Span


class Sound(NamedTuple):
    text: Str
    comment: Comment | None
    span: Span


class Action(NamedTuple):
    text: Text
    span: Span


Line = Dialogue | Sound | Action


class Shot(NamedTuple):
    number: int | None
    number_text: str
    number_span: Span
    duration: Duration | None
    text: Text | None
    lines: tuple[Line, ...]
    head_span: Span
    span: Span


class Scene(NamedTuple):
    title: Str
    duration: Duration | None
    location: Ref | None
    settings: tuple[Setting, ...]  # scene settings, including frames and ambience
    preamble: tuple[Line, ...]
    shots: tuple[Shot, ...]
    head_span: Span
    span: Span

    def setting(self, key: str) -> Setting | None:
        for s in self.settings:
            if s.key == key:
                return s
        return None

    def lines(self):
        """Every line of the scene: the preamble, then each shot's lines."""
        yield from self.preamble
        for shot in self.shots:
            yield from shot.lines


Item = Setting | Use | Element | Scene


class Document(NamedTuple):
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

    def setting(self, key: str) -> Setting | None:
        for s in self.settings:
            if s.key == key:
                return s
        return None


NODE_TYPES = (Str, Ref, Role, Text, Duration, Comment, Setting, Use, Element, Direction,
              Dialogue, Sound, Action, Shot, Scene, Document)
_NODE_SET = frozenset(NODE_TYPES)


def walk(node):
    """Every node below ``node`` (itself included), depth first, in source order."""
    yield node
    for value in node:
        if type(value) in _NODE_SET:
            yield from walk(value)
        elif type(value) is tuple:
            for v in value:
                if type(v) in _NODE_SET:
                    yield from walk(v)


_SKIP = {"span", "path", "comment", "comments"}


def structure(node):
    """The node as nested tuples without spans or comments: equal for equal trees."""
    if type(node) is tuple:
        return tuple(structure(v) for v in node)
    if type(node) not in _NODE_SET:
        return node
    out = [type(node).__name__]
    for name, value in zip(node._fields, node):
        if name in _SKIP or name.endswith("_span"):
            continue
        out.append((name, structure(value)))
    return tuple(out)
