"""Generate a feature-length KlingScript screenplay for benchmarks.

    python bench/gen_feature.py [-o bench/out/feature.kls] [--scenes 150] [--seed 2026]

The script is deterministic for a given seed: about 150 scenes and 4,500
lines, a cast of twelve with descriptions and voices, ten locations, dialogue
with directions (tones, off-screen voices, some lines in Korean and Spanish),
shots with and without durations, and a few scenes without shot headers. It
is written to check clean, so a benchmark measures a full check, not an
early stop. Pure Python: it needs nothing but the standard library.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

# Short descriptions: every shot's prompt repeats the description of each
# element it shows (Kling's limit is 512 characters per shot).
CAST = [
    ("Nora", "detective, 40s, grey trench coat, silver hair", "low, dry"),
    ("Eli", "rookie officer, 20s, neat uniform", "eager"),
    ("Marcus", "police captain, 60s, bald, moustache", "gravelly"),
    ("Ines", "forensic chemist, 30s, curly hair, lab coat", "precise"),
    ("Jun", "Korean journalist, 30s, round glasses", "calm"),
    ("Hana", "Jun's sister, 20s, leather jacket", "teasing"),
    ("Lucia", "Spanish gallery owner, 50s, pearls", "theatrical"),
    ("Victor", "art dealer, 50s, pinstripe suit", "cold"),
    ("Sam", "bartender, 30s, tattoos, beanie", "easygoing"),
    ("Olive", "teenage hacker, green hoodie", "sarcastic"),
    ("Teo", "museum guard, 70s, white beard", "kindly"),
    ("Rosa", "Lucia's daughter, 20s, paint-stained overalls", "soft"),
]

LOCATIONS = [
    ("Precinct", "crowded police precinct at night"),
    ("Gallery", "white-walled art gallery, spotlit paintings"),
    ("Bar", "dim harbour bar, neon beer signs"),
    ("Lab", "forensics lab, steel tables, UV lamps"),
    ("Rooftop", "rain-soaked rooftop, city skyline"),
    ("Museum", "grand museum hall, marble columns"),
    ("Apartment", "small apartment by a train line"),
    ("Docks", "foggy container docks, sodium lights"),
    ("Market", "busy night market, paper lanterns"),
    ("Studio", "painter's loft studio, skylight"),
]

CAMERA = ["Wide shot.", "Close-up.", "Medium shot.", "Over-the-shoulder shot.", "Low angle.",
          "Tracking shot.", "Slow push-in.", "Handheld.", "High angle.", "Two-shot."]
VERBS = ["turns to", "stares at", "walks past", "hands a folder to", "sits down beside",
         "points at", "glares at", "leans toward", "follows", "waits for", "laughs at", "ignores"]
ACTIONS = ["checks the time.", "lights a cigarette.", "pockets a small key.", "opens a drawer.",
           "wipes the rain from the window.", "flips through a notebook.", "pours two drinks.",
           "studies a photograph.", "picks up the phone.", "puts on gloves."]
TONES = ["quietly", "angry", "amused", "nervous", "flat", "urgent", "whispering", "sarcastic",
         "tired", "hopeful", "cold", "warm", "hesitant", "firm"]
ENGLISH = [
    "Where were you last night?", "I told you, I was working.", "That painting is a fake.",
    "Somebody wanted us to find this.", "Give me one good reason.", "We are out of time.",
    "Check the docks again.", "He never paid for it.", "You look like you need a drink.",
    "Nobody leaves this room.", "I know what I saw.", "It was never about the money.",
    "Call the captain.", "Not here. Not now.", "Then who took it?", "Follow the paint.",
]
KOREAN = ["어젯밤에 어디 있었어?", "사진은 거짓말을 안 해.", "조심해, 누가 보고 있어.",
          "이건 우연이 아니야.", "내일 다시 올게."]
SPANISH = ["¿Dónde está el cuadro?", "No me mientas.", "Esto no es lo que parece.",
           "Mi hija no sabe nada.", "Vámonos de aquí."]
SOUNDS = ["rain on the windows, distant sirens", "low chatter, clinking glasses",
          "humming fluorescent lights, a ringing phone", "wind, traffic far below",
          "footsteps echoing on marble", "gulls, water against the pier", "sizzling woks, crowd noise"]


def dialogue(rng: random.Random, who: str) -> str:
    roll = rng.random()
    tones = rng.sample(TONES, rng.choice((0, 1, 1, 2)))
    if who in ("Jun", "Hana") and roll < 0.5:
        text, lang = rng.choice(KOREAN), rng.choice(("Korean", "ko", "한국어"))
    elif who in ("Lucia", "Rosa") and roll < 0.5:
        text, lang = rng.choice(SPANISH), rng.choice(("Spanish", "es", "Español"))
    else:
        text, lang = rng.choice(ENGLISH), None
    items = tones + ([lang] if lang else []) + (["V.O."] if rng.random() < 0.05 else [])
    direction = f" ({', '.join(items)})" if items else ""
    return f'@{who}{direction}: "{text}"'


def scene(rng: random.Random, n: int, out: list[str]) -> None:
    loc = rng.choice(LOCATIONS)[0]
    people = rng.sample([c[0] for c in CAST], rng.randint(2, 4))
    out.append(f"# {n}. {loc.upper()}")
    out.append(f'scene "Scene {n}: {rng.choice(ACTIONS)[:-1]}" at @{loc}:')
    out.append(f'    sound: "{rng.choice(SOUNDS)}"')
    if n % 10 == 0:
        # A scene without shot headers: Kling cuts it into shots itself.
        out.append(f"    @{people[0]} {rng.choice(ACTIONS)}")
        for _ in range(rng.randint(2, 3)):
            out.append("    " + dialogue(rng, rng.choice(people)))
        out.append("")
        return
    out.append("")
    for k in range(1, rng.randint(9, 13) + 1):
        a, b = rng.sample(people, 2)
        text = f"{rng.choice(CAMERA)} @{a} {rng.choice(VERBS)} @{b} and {rng.choice(ACTIONS)}"
        lines = [dialogue(rng, rng.choice((a, b))) for _ in range(rng.choice((0, 1, 1, 2, 2)))]
        if rng.random() < 0.3:
            lines.append(f"@{b} {rng.choice(ACTIONS)}")
        spoken = sum(1 for line in lines if '"' in line)
        if spoken and rng.random() < 0.4:
            head = f"    Shot {k}: {text}"               # inferred from its dialogue
        else:
            seconds = 2 + 3 * spoken + rng.randint(0, 1) if spoken else rng.randint(3, 4)
            head = f"    Shot {k} ({seconds}s): {text}"
        out.append(head)
        out.extend("        " + line for line in lines)
    out.append("")


def generate(scenes: int = 150, seed: int = 2026) -> str:
    rng = random.Random(seed)
    out = [
        "# The Forger's Daughter: a generated feature-length screenplay for benchmarks.",
        "title: The Forger's Daughter",
        "model: kling-v3",
        "resolution: 1080p",
        "aspect: 16:9",
        "audio: on",
        "language: English",
        'style: "neo-noir, teal and orange, 35mm"',
        "",
    ]
    body: list[str] = []
    for n in range(1, scenes + 1):
        scene(rng, n, body)
    text = "\n".join(body)
    # Declare the elements the scenes use (all of them in a feature).
    for name, desc, voice in CAST:
        if f"@{name}" in text:
            out += [f"character {name}:", f'    description: "{desc}"', f'    voice: "{voice}"']
    for name, desc in LOCATIONS:
        if f"@{name}" in text:
            out += [f"location {name}:", f'    description: "{desc}"']
    out.append("")
    return "\n".join(out + body) + "\n"


def one_scene() -> str:
    """A short script: one scene, a small cast (the editor-sized case)."""
    return generate(scenes=1, seed=7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=str(Path(__file__).parent / "out" / "feature.kls"))
    ap.add_argument("--scenes", type=int, default=150)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    text = generate(args.scenes, args.seed)
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"{path}: {text.count(chr(10))} lines, {args.scenes} scenes")


if __name__ == "__main__":
    main()
