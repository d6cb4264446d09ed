"""The Pygments lexer: registered by entry point, no Error tokens, the right token types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Generic, Keyword, Name, Number, String

from klingscript.tools.pygments_lexer import KlingScriptLexer

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").rglob("*.kls"))

SAMPLE = '''\
# header comment
title: Episode #1
language: 한국어
aspect: 9:16
style: "noir, \\"hard\\" shadows"   # trailing

use "cast.kls"

character Ha_Eun:  # lead
    description: "대학생 🌂"
    images: "a.png", "b.png"

scene "Rain 🌧" (12s) at @Street:
    first frame: "f.png"
    sound: "rain"
    Shot 1 (4s): @Ha_Eun opens @Umbrella. #1 fan.
        Old Man (O.S., weary): "Close the door."
        @Ha_Eun (shy, ko): \u201c비가 와요 😊\u201d
'''


def lex(text: str):
    return [(t, v) for t, v in KlingScriptLexer().get_tokens(text) if v]


def token_of(tokens, value: str):
    """The type of the last token with this text."""
    for t, v in reversed(tokens):
        if v == value:
            return t
    raise AssertionError(f"no token {value!r} in {tokens}")


def test_registered_by_entry_point():
    assert isinstance(get_lexer_by_name("klingscript"), KlingScriptLexer)
    assert isinstance(get_lexer_by_name("kls"), KlingScriptLexer)
    assert isinstance(get_lexer_for_filename("pilot.kls"), KlingScriptLexer)


def test_pygmentize_command_line():
    path = REPO / "examples" / "villa_terrace.kls"
    r = subprocess.run([sys.executable, "-m", "pygments", "-l", "klingscript", "-f", "html", str(path)],
                       capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert r.returncode == 0, r.stderr
    assert 'class="err"' not in r.stdout
    assert "Woman" in r.stdout and 'class="nt"' in r.stdout  # the speaker is a Name.Tag


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_error_tokens_on_examples(path):
    text = path.read_text(encoding="utf-8")
    tokens = list(KlingScriptLexer().get_tokens(text))
    assert [v for t, v in tokens if t in Error] == []
    assert "".join(v for _, v in tokens) == text


@pytest.mark.parametrize("value,ttype", [
    ("# header comment", Comment.Single),
    ("title", Name.Attribute),
    ("Episode #1", String.Other),
    ("한국어", Name.Builtin),
    ("9:16", Name.Constant),
    ("\\\"", String.Escape),
    ("# trailing", Comment.Single),
    ("use", Keyword.Namespace),
    ("character", Keyword.Declaration),
    ("Ha_Eun", Name.Class),
    ("# lead", Comment.Single),
    ("description", Name.Property),
    ("scene", Keyword),
    ('"Rain 🌧"', Generic.Heading),
    ("(12s)", Number),
    ("@Street", Name.Variable),
    ("first frame", Name.Attribute),
    ("sound", Name.Builtin.Pseudo),
    ("Shot", Keyword),
    ("1", Number.Integer),
    ("(4s)", Number),
    ("@Umbrella", Name.Variable),
    ("Old Man", Name.Tag),
    ("O.S.", Keyword.Pseudo),
    ("weary", Generic.Emph),
    ("Close the door.", String.Double),
    ("@Ha_Eun", Name.Tag),
    ("ko", Name.Builtin),
    ("비가 와요 😊", String.Double),
])
def test_token_types(value, ttype):
    assert token_of(lex(SAMPLE), value) in ttype


def test_hash_in_prose_is_text():
    tokens = lex(SAMPLE)
    assert not any(t in Comment and "#1" in v for t, v in tokens)


_alphabet = st.sampled_from(list('abcSsh@#"\u201c\u201d():,. \t\n한😊') + ["Shot 1 (3s): ", "scene ", "character ",
                                                                       "    ", "@Al (ko, sad): "])


@settings(max_examples=150, deadline=None)
@given(st.lists(_alphabet, max_size=60).map("".join))
def test_never_an_error_token(text):
    tokens = list(KlingScriptLexer().get_tokens(text))
    assert not any(t in Error for t, _ in tokens)
