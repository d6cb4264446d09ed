"""klingc import (Fountain and Final Draft into KlingScript) and klingc export --fountain.

The three screenplays of the shared corpus (``../shared/corpus/fountain`` beside the
repository; skipped where it is absent) and the project's own samples (tests/import/):
every import checks without errors, every dialogue line of the source is a dialogue
line of the output, every line of the source is in the output (as script or comment),
and import -> export -> import keeps the scenes, the speakers and the dialogue.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from klingscript.cli import main
from klingscript.compiler import check, front_end
from klingscript.importers import import_file
from klingscript.project import load_program
from klingscript.syntax import ast as A
from klingscript.tools.fountain_export import fountain

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "import"
CORPUS = HERE.parent.parent / "shared" / "corpus" / "fountain"
CORPUS_FILES = sorted(CORPUS.glob("*.fountain")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(not CORPUS_FILES, reason="../shared/corpus/fountain is absent")
SOURCES = [SAMPLES / "sample.fountain", SAMPLES / "sample.fdx"]


def imported(src: Path, tmp_path: Path):
    text, summary = import_file(src)
    out = tmp_path / (src.stem + ".kls")
    out.write_text(text, encoding="utf-8")
    return out, text, summary


def dialogue(path: Path) -> list[tuple[str, str]]:
    doc = check(path).program.main.doc
    return [(line.speaker.name, line.line.value) for scene in doc.scenes for line in scene.lines()
            if isinstance(line, A.Dialogue)]


def source_dialogue(src: Path) -> list[str]:
    """Every run of dialogue words between parentheticals, as the reference parser reads it."""
    from klingscript.importers import read
    from klingscript.importers.screenplay import Speech

    out = []
    for p in read(src).paragraphs:
        if isinstance(p, Speech):
            words: list[str] = []
            for paren, text in p.blocks + ((True, ""),):
                if paren:
                    if words:
                        out.append(" ".join(" ".join(words).split()))
                    words = []
                elif text.strip():
                    words.append(text)
    return out


def _clean(text: str) -> str:
    return " ".join(text.split())


def assert_imports_cleanly(src: Path, tmp_path: Path):
    out, text, summary = imported(src, tmp_path)
    c = check(out)
    errors = [f"{d.span}: {d.code} {d.message}" for d in c.diagnostics if d.severity.value == "error"]
    assert not errors, "\n".join(errors[:10])
    placeholders = [d for d in c.diagnostics if d.code == "KLS410"]
    assert len(placeholders) == len(summary.characters) > 0
    said = " ".join(_clean(t) for _, t in dialogue(out))
    missing = [line for line in source_dialogue(src) if _clean(line) not in said]
    assert not missing, missing[:5]
    assert summary.counts["dialogue lines"] >= len(source_dialogue(src))
    return out, text, summary


def _tokens(text: str) -> list[str]:
    text = text.replace("'", "").replace("\u2019", "").replace("\uff20", "@")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])", " ", text)
    return [t.casefold() for t in re.findall(r"[^\W_]+", text)]


def assert_every_line_is_kept(src: Path, text: str):
    """Each non-blank line of the source, in order, is in the output (script or comment)."""
    from screenplain.richstring import parse_emphasis

    out = _tokens(text)
    cursor = 0
    for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        words = [w for w in _tokens(str(parse_emphasis(line))) if w not in ("cont", "d", "contd")]
        if not words:
            continue
        first = _find(out, words, cursor)
        if first is None:
            # A cue whose @Name is shortened is written in full where the character is declared.
            assert _find(out, words, 0) is not None, f"{src.name}:{n} is not in the import: {line!r}"
        else:
            cursor = first


def _find(out: list[str], words: list[str], start: int):
    """Where ``words`` start as a subsequence of ``out`` from ``start``, or None."""
    i, found, first = start, 0, None
    while i < len(out) and found < len(words):
        if out[i] == words[found]:
            first = i if first is None else first
            found += 1
        i += 1
    return first if found == len(words) else None


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_samples_import_cleanly(src, tmp_path):
    assert_imports_cleanly(src, tmp_path)


def test_fountain_sample_keeps_every_line_and_says_where(tmp_path):
    src = SAMPLES / "sample.fountain"
    _, text, summary = assert_imports_cleanly(src, tmp_path)
    assert_every_line_is_kept(src, text)
    c = summary.counts
    assert summary.title == "The Lighthouse"
    assert 'title: "The Lighthouse"' in text and "**" not in text and "*A lamp*" not in text
    for kind in ("note", "boneyard", "section", "synopsis", "transition", "page break", "title page"):
        assert c.get(f"{kind} as comments"), kind
    assert "# boneyard: An older version of the scene:" in text
    assert "# note: Find a real lighthouse" in text
    assert '@Mara (V.O.): "I swore I would never come back."' in text
    assert '@Father (beat): "Twenty years late."' in text
    assert c["contd dropped"] == 1 and "CONT'D" not in text
    assert c["dual dialogue speeches"] == 2
    assert '@Mara (in French): "Je sais."' in text          # Kling does not speak French: a tone
    assert [name for _, name in summary.characters] == ["Mara", "Father", "Voice"]
    assert [name for _, name in summary.locations] == ["Lighthouse", "LighthouseKitchen"]
    assert 'scene "EXT. LIGHTHOUSE - DAY" at @Lighthouse:' in text


def test_fdx_sample(tmp_path):
    _, text, summary = assert_imports_cleanly(SAMPLES / "sample.fdx", tmp_path)
    assert summary.title == "Night Owls"
    assert '@Juno (softly): "Good evening, night owls."' in text
    assert '@Caller (V.O.): "Juno, it\'s me. I\'m outside."' in text
    assert "A red ON AIR light glows." in text
    assert "# note: Check the car model" in text and "# transition: SMASH CUT TO:" in text


def test_fdx_refuses_entities_and_bad_files(tmp_path, capsys):
    bomb = tmp_path / "bomb.fdx"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><FinalDraft>&a;</FinalDraft>')
    assert main(["import", str(bomb), "-o", str(tmp_path / "b.kls")]) == 2
    assert "not a Final Draft file" in capsys.readouterr().err
    other = tmp_path / "x.fdx"
    other.write_text("<html/>")
    assert main(["import", str(other), "-o", str(tmp_path / "x.kls")]) == 2
    assert main(["import", str(tmp_path / "none.fountain")]) == 2
    assert main(["import", str(tmp_path / "x.docx")]) == 2
    assert not (tmp_path / "b.kls").exists()


def test_cli_import_writes_and_summarises(tmp_path, capsys):
    out = tmp_path / "l.kls"
    assert main(["import", str(SAMPLES / "sample.fountain"), "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "characters (3): MARA -> @Mara, FATHER -> @Father, VOICE -> @Voice" in report
    assert "scenes: 3, at 2 locations" in report and "boneyard 1" in report
    assert main(["import", str(SAMPLES / "sample.fountain"), "-o", str(out)]) == 2   # exists
    assert main(["import", str(SAMPLES / "sample.fountain"), "-o", str(out), "--force"]) == 0
    assert main(["check", str(out)]) == 0


def roundtrip(kls: Path, tmp_path: Path):
    program = load_program(kls)
    assert not [d for d in front_end(program) if d.severity.value == "error"]
    screenplay = tmp_path / (kls.stem + ".again.fountain")
    screenplay.write_text(fountain(program), encoding="utf-8")
    again, _, _ = imported(screenplay, tmp_path)
    first, second = check(kls).program.main.doc, check(again).program.main.doc
    assert [s.title.value for s in first.scenes] == [s.title.value for s in second.scenes]
    assert dialogue(kls) == dialogue(again)
    return again


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_samples_roundtrip(src, tmp_path):
    out, _, _ = imported(src, tmp_path)
    roundtrip(out, tmp_path)


def test_cli_export_fountain(tmp_path, capsys):
    out = tmp_path / "sitcom.fountain"
    assert main(["export", "examples/sitcom_coffee_shop.kls", "--fountain", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("Title: Bottomless Refills\n")
    assert ".COFFEE SHOP - The business plan" in text and "\nDEV\n(triumphant)\nI quit my job.\n" in text
    assert main(["export", "examples/sitcom_coffee_shop.kls"]) == 2
    bad = tmp_path / "bad.kls"
    bad.write_text('scene "x":\n    Shot 1 (3s): @Nobody waves.\n')
    assert main(["export", str(bad), "--fountain"]) == 1
    assert not (tmp_path / "bad.fountain").exists()


@needs_corpus
@pytest.mark.parametrize("src", CORPUS_FILES, ids=lambda p: p.stem)
def test_corpus(src, tmp_path):
    out, text, summary = assert_imports_cleanly(src, tmp_path)
    assert_every_line_is_kept(src, text)
    roundtrip(out, tmp_path)


_WORD = st.sampled_from(["rain", "door", "light", "she", "runs", "waits", "the", "old", "red", "car"])
_SENTENCE = st.lists(_WORD, min_size=1, max_size=30).map(lambda w: " ".join(w).capitalize() + ".")


@st.composite
def screenplays(draw):
    people = ["ANNA", "BEN", "OLD MAN"]
    out = ["Title: Generated", ""]
    for n in range(draw(st.integers(1, 3))):
        out += [f"{draw(st.sampled_from(['INT.', 'EXT.']))} {draw(st.sampled_from(['BARN', 'SHORE', 'ROOF']))} - DAY", ""]
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.booleans()):
                out += [" ".join(draw(st.lists(_SENTENCE, min_size=1, max_size=8))), ""]
            else:
                cue = draw(st.sampled_from(people)) + draw(st.sampled_from(["", " (V.O.)", " (CONT'D)"]))
                out += [cue] + (["(quietly)"] if draw(st.booleans()) else [])
                out += [" ".join(draw(st.lists(_SENTENCE, min_size=1, max_size=10))), ""]
    return "\n".join(out) + "\n"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(screenplays())
def test_generated_screenplays(tmp_path, text):
    src = tmp_path / "gen.fountain"
    src.write_text(text)
    out, _, summary = imported(src, tmp_path)
    if summary.characters:
        assert_imports_cleanly(src, tmp_path)
    assert not [d for d in check(out).diagnostics if d.severity.value == "error"]
    roundtrip(out, tmp_path)
