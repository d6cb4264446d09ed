"""A Pygments lexer for KlingScript (``.kls``).

Registered through the ``pygments.lexers`` entry point, so after
``pip install klingscript`` both ``pygmentize -l klingscript script.kls`` and
``pygmentize script.kls`` work, and so do Sphinx and MkDocs code blocks
marked ``kls`` or ``klingscript``. The lexer follows the same line shapes as
the TextMate grammar (``grammar/klingscript.tmLanguage.json``); every line
gets a token, so it never produces Error tokens, even on half-typed input.
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, default
from pygments.token import (Comment, Generic, Keyword, Name, Number, Punctuation, String, Text,
                            Whitespace)

from ..syntax.shapes import NAME as _NAME, ROLE as _ROLE  # the grammar's line shapes

__all__ = ["KlingScriptLexer"]

_OFFSCREEN = r"v\.o\.|vo|o\.s\.|os|o\.c\.|oc|off-screen|offscreen|off[ \t]+screen"
_CONSTANTS = r"720p|1080p|16:9|9:16|1:1|on|off|api|text|kling-v3-omni|kling-v3"
_SCENE_KEYS = r"(?:first|last)[ \t]+frame|model|resolution|aspect|audio|language|style|negative|multishot"


def _language_names() -> str:
    """Every language name a direction may use, from ``data/languages.toml``."""
    try:
        from ..resources import data_toml
        table = data_toml("languages.toml")
    except Exception:  # a damaged install still highlights, without language names
        return "English"
    names = set()
    for name, entry in table.items():
        for n in (name, entry.get("code", ""), *entry.get("names", ())):
            if n and "(" not in n:
                names.add(n)
    ordered = sorted(names, key=lambda s: (-len(s), s))
    return "|".join(re.escape(n).replace(r"\ ", r"[ \t]+") for n in ordered)


_LANGUAGES = _language_names()

_STRING_RULES = [
    (r'"', String.Double, "dq"),
    ("\u201c", String.Double, "curly"),
]


class KlingScriptLexer(RegexLexer):
    """KlingScript, the screenplay language for Kling 3.0 AI video."""

    name = "KlingScript"
    aliases = ["klingscript", "kls"]
    filenames = ["*.kls"]
    mimetypes = ["text/x-klingscript"]
    url = "https://github.com/klingscript/klingscript"
    version_added = ""
    flags = re.MULTILINE | re.UNICODE

    tokens = {
        "root": [
            (r"\n", Whitespace),
            (r"^[ \t]*#.*$", Comment.Single),
            (r"^(use)(?!\w)", Keyword.Namespace, "value"),
            (r"^(character|animal|location|prop)(?!\w)([ \t]*)(" + _NAME + r")?([ \t]*)(:)?",
             bygroups(Keyword.Declaration, Whitespace, Name.Class, Whitespace, Punctuation),
             ("element", "rest")),
            (r"^(scene)(?!\w)", Keyword, ("scene", "scene-head")),
            (r"^([ \t]*)([a-z][a-z_]*(?:[ \t]+frame)?)([ \t]*)(:)",
             bygroups(Whitespace, Name.Attribute, Whitespace, Punctuation), "value"),
            (r"[ \t]+", Whitespace),
            (r"[^\n]+", Text),
        ],
        # The rest of a block's head line: a comment after the colon, or stray text.
        "rest": [
            (r"[ \t]+", Whitespace),
            (r"#.*", Comment.Single),
            (r"[^\n]+", Text),
            (r"\n", Whitespace, "#pop"),
        ],
        # The value of a setting or field, or the path of a `use`.
        "value": [
            (r"[ \t]+", Whitespace),
            *_STRING_RULES,
            (r",", Punctuation),
            (r"(?:" + _CONSTANTS + r")(?=[ \t]*$)", Name.Constant),
            (r"(?i:" + _LANGUAGES + r")(?=[ \t]*$)", Name.Builtin),
            (r"#.*", Comment.Single),
            (r"[^\s\"\u201c#,][^\n]*", String.Other),
            (r"\n", Whitespace, "#pop"),
        ],
        "dq": [
            (r'\\["\\]', String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r"\\", String.Double),
            (r'"', String.Double, "#pop"),
            default("#pop"),
        ],
        "curly": [
            (r"[^\u201d\n]+", String.Double),
            ("\u201d", String.Double, "#pop"),
            default("#pop"),
        ],
        "element": [
            (r"^(?=[^\s#])", Text, "#pop"),
            (r"\n", Whitespace),
            (r"^[ \t]*#.*$", Comment.Single),
            (r"^([ \t]+)([a-z][a-z_]*)([ \t]*)(:)",
             bygroups(Whitespace, Name.Property, Whitespace, Punctuation), "value"),
            (r"[ \t]+", Whitespace),
            (r"[^\n]+", Text),
        ],
        "scene-head": [
            (r"[ \t]+", Whitespace),
            (r'"(?:[^"\\\n]|\\.)*"?', Generic.Heading),
            (r"\u201c[^\u201d\n]*\u201d?", Generic.Heading),
            (r"\([^)\n]*\)", Number),
            (r"at(?!\w)", Keyword),
            (r"@" + _NAME, Name.Variable),
            (r":", Punctuation),
            (r"#.*", Comment.Single),
            (r"[^\n]", Text),
            (r"\n", Whitespace, "#pop"),
        ],
        "scene": [
            (r"^(?=[^\s#])", Text, "#pop"),
            (r"\n", Whitespace),
            (r"^[ \t]*#.*$", Comment.Single),
            (r"^([ \t]+)(Shot)([ \t]+)([^\s:(]+)([ \t]*)(\([^)\n]*\))?([ \t]*)(:)",
             bygroups(Whitespace, Keyword, Whitespace, Number.Integer, Whitespace, Number, Whitespace,
                      Punctuation), "prose"),
            (r"^([ \t]+)(sound)([ \t]*)(:)",
             bygroups(Whitespace, Name.Builtin.Pseudo, Whitespace, Punctuation), "value"),
            (r"^([ \t]+)(" + _SCENE_KEYS + r")([ \t]*)(:)",
             bygroups(Whitespace, Name.Attribute, Whitespace, Punctuation), "value"),
            (r"^([ \t]+)(@" + _NAME + "|" + _ROLE + r")(?=[ \t]*(?:\([^)\n]*\))?[ \t]*:[ \t]*[\"\u201c])",
             bygroups(Whitespace, Name.Tag), "dialogue"),
            (r"^[ \t]+(?=\S)", Whitespace, "prose"),
            (r"[ \t]+", Whitespace),
            (r"[^\n]+", Text),
        ],
        # Action text: prose with @references.
        "prose": [
            (r"(?<![\w@])@" + _NAME, Name.Variable),
            (r"[^@\n]+", Text),
            (r"@", Text),
            (r"\n", Whitespace, "#pop"),
        ],
        "dialogue": [
            (r"[ \t]+", Whitespace),
            (r"\(", Punctuation, "direction"),
            (r":", Punctuation),
            *_STRING_RULES,
            (r"#.*", Comment.Single),
            (r"[^\n]", Text),
            (r"\n", Whitespace, "#pop"),
        ],
        "direction": [
            (r"\)", Punctuation, "#pop"),
            (r",", Punctuation),
            (r"[ \t]+", Whitespace),
            (r"(?i:" + _LANGUAGES + r")(?=[ \t]*[,)])", Name.Builtin),
            (r"(?i:" + _OFFSCREEN + r")(?=[ \t]*[,)])", Keyword.Pseudo),
            (r"[^,)\n]+?(?=[ \t]*[,)\n])", Generic.Emph),
            (r"[^\n]", Text),
            default("#pop"),
        ],
    }

    def analyse_text(text):
        score = 0.0
        if re.search(r"^scene[ \t]+[\"\u201c]", text, re.MULTILINE):
            score += 0.3
        if re.search(r"^[ \t]+Shot[ \t]+\d+[ \t]*(\(\d+s\))?[ \t]*:", text, re.MULTILINE):
            score += 0.3
        if re.search(r"^(character|animal|location|prop)[ \t]+\w+[ \t]*:[ \t]*$", text, re.MULTILINE):
            score += 0.2
        return min(score, 0.9)
