"""The shapes of KlingScript's lines, written once.

The grammar (``grammar/klingscript.lark``) is the contract: it decides what a
line is. Once it has, the AST builder takes the line apart with the regexes
below, the block splitter uses them to find where top-level items start, and
the language server uses them to recognise a line while it is being typed.
They are built from the same pieces as the grammar's terminals (NAME, REF,
DIALOGUE_LINE's speaker, DURATION, STRING, KEY, SHOT_LINE), spelled with
character sets where the grammar, for the sake of Lark's compile time, cannot.
"""

from __future__ import annotations

import re

# -- pieces (regex source) -------------------------------------------------------

NAME = r"[^\W\d_]\w*"  # a letter, then letters, digits or `_`
REF = "@" + NAME
# A speaker who is not an element: up to three capitalised words (`Old Man`, `Dr. Kim`).
ROLE = r"[^\W\d_a-z][\w.'\u2019-]*(?:[ \t]+[^\W\d_a-z][\w.'\u2019-]*){0,2}"
SPEAKER = "(?:" + REF + "|" + ROLE + ")"
# A parenthesised duration or dialogue direction: `(3s)`, `(sad, Korean)`.
PARENS = r"\([^)\r\n]*\)"
STRAIGHT_STRING = r'"(?:[^"\\\r\n]|\\.)*"'
CURLY_STRING = "\u201c[^\u201d\r\n]*\u201d"
STRING = STRAIGHT_STRING + "|" + CURLY_STRING
KEY = r"[a-z][a-z_]*(?:[ \t]+(?:frame|id|sample))?"  # `title`, `first frame`, `voice id`
SHOT_NUMBER = r"[^\s:(]+"

# -- whole shapes ----------------------------------------------------------------

NAME_RE = re.compile(NAME + r"\Z")
REF_RE = re.compile(r"(?<![\w@])@(" + NAME + ")")  # group 1: the name
KEY_RE = re.compile("(" + KEY + r")[ \t]*:")  # group 1: the key as written
SHOT_RE = re.compile(r"Shot[ \t]+(?P<num>" + SHOT_NUMBER + r")[ \t]*(?P<dur>" + PARENS + r")?[ \t]*:"
                     r"[ \t]*(?P<text>.*?)[ \t]*$")
# "Shot 3 (4s) text" without the colon: an action line that meant to be a shot.
SHOT_WITHOUT_COLON_RE = re.compile(r"Shot[ \t]+\d+[ \t]*(\([^)]*\))?")
# A shot header as a writer may misspell it: `shot 3 (3s): …`, `Shot 3 (3s) …`, `SHOT 3:`.
MISSPELT_SHOT_RE = re.compile(r"(?P<word>[Ss][Hh][Oo][Tt])(?P<head>[ \t]+\d+(?:[ \t]*\([^)\r\n]*\))?)"
                              r"(?P<colon>[ \t]*:)?")
DURATION_RE = re.compile(r"\(\s*(\d+)\s*s\s*\)$")
# A dialogue line the grammar has accepted (so the speaker is not checked again).
DIALOGUE_RE = re.compile("(?P<who>" + REF + r"|[^(:]*?)[ \t]*(?P<dir>" + PARENS + r")?[ \t]*:[ \t]*"
                         "(?P<str>" + STRING + r")(?:[ \t]*(?P<comment>#.*?))?[ \t]*$")
# The start of a dialogue line, up to its opening quote.
DIALOGUE_START_RE = re.compile(SPEAKER + r"[ \t]*(?:" + PARENS + r")?[ \t]*:[ \t]*(?=[\"\u201c])")
STRAIGHT_STRING_RE = re.compile(STRAIGHT_STRING)
ESCAPE_RE = re.compile(r"\\([\"\\])")
ELEMENT_HEAD_RE = re.compile(r"(character|animal|location|prop)\b")
SCENE_HEAD_RE = re.compile("(?:\ufeff)?scene(?!\\w)")

# A line the grammar's _NL token takes in: blank, or a comment (a "#" as its
# first non-blank character), with the carriage return of a CRLF line end.
_BLANK_RE = re.compile(r"[\t ]*(?:#[^\r\n]*)?\r?\Z")


def is_blank(line: str) -> bool:
    """Whether a line (without its "\\n") is one the parser skips: blank or a comment.

    Only spaces and tabs are blank, as for the lexer: a form feed or another
    Unicode space is text.
    """
    return _BLANK_RE.match(line) is not None


def starts_block(line: str) -> bool:
    """Whether a line starts a top-level item: a setting, `use`, an element, a scene, or stray text.

    Such a line has text in its first column (after a byte-order mark): not a
    space, a tab, a comment's "#" or a carriage return.
    """
    if not line:
        return False
    ch = line[0]
    if ch == "\ufeff":
        return starts_block(line[1:])
    return ch not in " \t\r#"
