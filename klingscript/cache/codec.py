"""Syntax trees as plain tuples, which pickle writes and reads many times faster.

Pickling a syntax tree node by node is slow: each NamedTuple costs pickle a
call into Python (``__getnewargs__``) to write and another (``__new__``) to
read. On the feature-length script (about 50,000 nodes and spans) pickling the
parse result took about 160 ms, longer than reading it back. Here each node is
written as a plain tuple of its fields, in the order its class declares them,
and read back knowing from that class what each field holds: code generated
once per class from the fields' annotations (``Span``, a node class, a union
of node classes, ``tuple[...]`` of those, ``X | None``, or plain values). A
union's member is tagged with its class's number in ``NODE_TYPES``.

``encode`` and ``decode`` are exact inverses on trees the parser makes; the
cache checks a tree it cannot encode (``ValueError``) and then does without
it. Entries are authenticated before they are read (``store.py``), so decoding
trusts their shape.
"""

from __future__ import annotations

import types
import typing

from ..syntax import ast as A

_new = tuple.__new__
_PLAIN = (str, int, bool, float, type(None))


class _Schema:
    def __init__(self):
        self.nodes = (A.Span, *A.NODE_TYPES)
        self.tag = {cls: i for i, cls in enumerate(self.nodes)}
        env = {"_new": _new, "Span": A.Span, "ENC": {}, "DEC": {}, "TAG": self.tag, "NODES": self.nodes}
        src = []
        for cls in A.NODE_TYPES:
            hints = typing.get_type_hints(cls)
            enc = [self._expr(hints[f], f"o[{i}]", "enc") for i, f in enumerate(cls._fields)]
            dec = [self._expr(hints[f], f"t[{i}]", "dec") for i, f in enumerate(cls._fields)]
            env[cls.__name__] = cls
            src.append(f"def enc_{cls.__name__}(o):\n    return ({', '.join(enc)},)\n"
                       f"def dec_{cls.__name__}(t):\n    return _new({cls.__name__}, ({', '.join(dec)},))\n"
                       f"ENC[{cls.__name__}] = enc_{cls.__name__}\nDEC[{self.tag[cls]}] = dec_{cls.__name__}\n")
        exec(compile("".join(src), "<klingscript cache codec>", "exec"), env)
        self.encoders, self.decoders = env["ENC"], env["DEC"]

    def _expr(self, t, v: str, way: str) -> str:
        """Code that encodes (or decodes) value ``v`` of annotated type ``t``."""
        if t in _PLAIN:
            return v
        if t is A.Span:
            return f"tuple({v})" if way == "enc" else f"_new(Span, {v})"
        if t in self.tag:
            return f"enc_{t.__name__}({v})" if way == "enc" else f"dec_{t.__name__}({v})"
        origin = typing.get_origin(t)
        if origin in (types.UnionType, typing.Union):
            members = [m for m in typing.get_args(t) if m is not type(None)]
            if all(m in _PLAIN for m in members):
                return v
            if len(members) < len(typing.get_args(t)):      # X | None
                inner = self._expr(members[0] if len(members) == 1 else typing.Union[tuple(members)], v, way)
                return f"(None if {v} is None else {inner})"
            if all(m in self.tag and m is not A.Span for m in members):   # tagged with the class's number
                return (f"(TAG[type({v})], ENC[type({v})]({v}))" if way == "enc"
                        else f"DEC[{v}[0]]({v}[1])")
        if origin is tuple:
            args = typing.get_args(t)
            if len(args) == 2 and args[1] is Ellipsis:
                inner = self._expr(args[0], "x", way)
                return v if inner == "x" else f"tuple([{inner} for x in {v}])"
        raise ValueError(f"the cache cannot encode a field of type {t!r}")


_schema = None


def _get() -> _Schema:
    global _schema
    if _schema is None:
        _schema = _Schema()
    return _schema


def encode(node) -> tuple:
    """A node (``Document`` usually) as nested plain tuples; ValueError if it does not fit
    its class's annotations."""
    s = _get()
    try:
        return (s.tag[type(node)], s.encoders[type(node)](node))
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"the cache cannot encode this tree: {e}") from None


def decode(data: tuple):
    """The node that ``encode`` made ``data`` of."""
    return _get().decoders[data[0]](data[1])
