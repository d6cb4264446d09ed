"""The parse cache's encoding of syntax trees (cache/codec.py): exactly the tree, classes
included, for every tree the parser makes; and a tree it cannot encode is not cached."""

from __future__ import annotations

import pytest

from conftest import EXAMPLES, REPO, feature_generator
from klingscript import cache
from klingscript.cache import codec
from klingscript.syntax import ast as A
from klingscript.syntax.parser import parse

BROKEN = '''title: "Broken"
character Nora:
    description: "detective"
    voice "no colon"
scene "Office" (6s) at @Nowhere:
    ambience: "rain"
    @Nora (tired, Korean, V.O.): "Hm."
    sound: "door"
    Shot 1 (3s): @Nora looks up.
        Woman (off): "Who is there?"
    Shot 2 (2.5s) she waits
    An action line at scene indentation.
  badly indented
'''


def same(a, b) -> bool:
    """Equal, and of the same classes all the way down (NamedTuples compare as tuples)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def texts():
    for path in sorted(EXAMPLES.rglob("*.kls")) + sorted((REPO / "tests").rglob("*.kls")):
        yield str(path.relative_to(REPO)), path.read_text(encoding="utf-8", errors="surrogateescape")
    yield "feature.kls", feature_generator().generate(scenes=12)
    yield "broken.kls", BROKEN
    yield "empty.kls", ""


@pytest.mark.parametrize("name,text", list(texts()), ids=lambda v: v if isinstance(v, str) and v.endswith(".kls") else "")
def test_a_tree_comes_back_exactly(name, text):
    doc, _ = parse(text, name)
    back = codec.decode(codec.encode(doc))
    assert same(back, doc)


def test_the_encoding_is_plain_data():
    doc, _ = parse(BROKEN, "broken.kls")
    seen = [codec.encode(doc)]
    while seen:
        v = seen.pop()
        assert type(v) in (tuple, str, int, bool, type(None)), type(v)
        if type(v) is tuple:
            seen.extend(v)


def test_a_tree_that_does_not_fit_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("KLINGSCRIPT_NO_CACHE", raising=False)
    odd = A.Document("film.kls", (), (), None)      # no span: not what the parser makes
    monkeypatch.setattr("klingscript.syntax.parser.parse", lambda text, path: (odd, []))
    with pytest.raises(ValueError):
        codec.encode(odd)
    assert cache.parse(BROKEN, "film.kls") == (odd, [])
    assert not list((tmp_path / "xdg").rglob("*.entry"))
