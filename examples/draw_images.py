"""Draw the reference images and frames that the examples use.

The examples ship these PNGs so that `klingc check` can inspect real images
(format, size, aspect ratio). They are simple flat-colour drawings: small
files, at least 512 px on the short side. Re-create them with

    python examples/draw_images.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent

PORTRAIT = (512, 768)     # characters and props: 2:3
WIDE = (1024, 576)        # locations and frames: 16:9

SKIN = (233, 190, 160)
SKIN_DARK = (160, 110, 80)


def save(img: Image.Image, rel: str) -> None:
    path = HERE / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    # A small palette keeps flat drawings to a few kilobytes.
    img.convert("RGB").quantize(colors=32, dither=Image.Dither.NONE).save(path, optimize=True)


def figure(bg, hair, top, legs, view="front", skin=SKIN, hair_style="short", extra=None):
    """A standing person seen from the front, the left or the right."""
    img = Image.new("RGB", PORTRAIT, bg)
    d = ImageDraw.Draw(img)
    cx = 256
    shift = {"front": 0, "left": -28, "right": 28}[view]
    # legs and shoes
    d.rectangle([cx - 60, 470, cx - 8, 720], fill=legs)
    d.rectangle([cx + 8, 470, cx + 60, 720], fill=legs)
    d.rectangle([cx - 70, 712, cx - 2, 740], fill=(40, 40, 40))
    d.rectangle([cx + 2, 712, cx + 70, 740], fill=(40, 40, 40))
    # torso and arms
    d.rounded_rectangle([cx - 95, 250, cx + 95, 490], radius=40, fill=top)
    d.rounded_rectangle([cx - 135, 265, cx - 88, 470], radius=22, fill=top)
    d.rounded_rectangle([cx + 88, 265, cx + 135, 470], radius=22, fill=top)
    d.ellipse([cx - 135, 455, cx - 90, 500], fill=skin)
    d.ellipse([cx + 90, 455, cx + 135, 500], fill=skin)
    # neck and head
    d.rectangle([cx - 22, 215, cx + 22, 260], fill=skin)
    hx = cx + shift
    if hair_style == "long":
        d.rounded_rectangle([hx - 88, 90, hx + 88, 300], radius=60, fill=hair)
    d.ellipse([hx - 75, 80, hx + 75, 240], fill=skin)
    if hair_style == "bob":
        d.chord([hx - 82, 60, hx + 82, 230], 180, 360, fill=hair)
        d.rectangle([hx - 82, 140, hx - 58, 225], fill=hair)
        d.rectangle([hx + 58, 140, hx + 82, 225], fill=hair)
    elif hair_style == "beard":
        d.chord([hx - 78, 65, hx + 78, 200], 180, 360, fill=hair)
        d.chord([hx - 70, 130, hx + 70, 250], 0, 180, fill=hair)
    elif hair_style == "helmet":
        d.chord([hx - 85, 55, hx + 85, 215], 180, 360, fill=hair)
        d.rectangle([hx - 6, 120, hx + 6, 180], fill=hair)
    else:
        d.chord([hx - 80, 62, hx + 80, 190], 180, 360, fill=hair)
    # eyes look the way the figure faces
    look = {"front": 0, "left": -14, "right": 14}[view]
    for ex in (-30, 30):
        if view != "front" and (ex * look) < 0 and abs(shift) > 0:
            continue  # the far eye is hidden in profile
        d.ellipse([hx + ex + look - 8, 150, hx + ex + look + 8, 166], fill=(30, 30, 30))
    d.line([hx - 20 + look, 200, hx + 20 + look, 200], fill=(120, 60, 60), width=5)
    if extra:
        extra(d, cx, hx)
    return img


def hero_extra(d, cx, hx):
    # a red cape behind the shoulders and a sword in the right hand
    d.polygon([(cx - 95, 260), (cx - 150, 700), (cx - 100, 700), (cx - 60, 300)], fill=(150, 20, 30))
    d.rectangle([cx + 106, 300, cx + 118, 470], fill=(200, 200, 210))
    d.rectangle([cx + 90, 460, cx + 134, 472], fill=(120, 90, 40))


def wide(bg):
    img = Image.new("RGB", WIDE, bg)
    return img, ImageDraw.Draw(img)


def terrace():
    img, d = wide((150, 200, 235))
    d.rectangle([0, 300, 1024, 576], fill=(205, 185, 150))           # stone terrace
    for x in (60, 210, 760, 900):                                     # trees
        d.rectangle([x + 40, 180, x + 60, 320], fill=(100, 70, 40))
        d.ellipse([x, 60, x + 100, 220], fill=(70, 140, 60))
    d.rectangle([0, 280, 1024, 300], fill=(240, 240, 235))            # balustrade
    # table with a blue and white checkered cloth
    for i in range(10):
        for j in range(3):
            colour = (40, 80, 170) if (i + j) % 2 == 0 else (245, 245, 245)
            d.rectangle([312 + i * 40, 380 + j * 30, 352 + i * 40, 410 + j * 30], fill=colour)
    for x, hair in ((330, (90, 50, 30)), (650, (40, 40, 40))):      # the couple
        d.ellipse([x - 35, 250, x + 35, 320], fill=SKIN)
        d.chord([x - 38, 240, x + 38, 300], 180, 360, fill=hair)
        d.rounded_rectangle([x - 50, 320, x + 50, 380], radius=20, fill=(250, 250, 250) if x < 500 else (60, 90, 130))
    d.rectangle([395, 330, 410, 378], fill=(255, 170, 40))            # a glass of juice
    save(img, "frames/terrace.png")


def burning_village():
    img, d = wide((40, 25, 45))
    d.rectangle([0, 420, 1024, 576], fill=(60, 45, 35))
    for i, x in enumerate(range(40, 1000, 160)):
        h = 120 + (i % 3) * 30
        d.rectangle([x, 420 - h, x + 110, 420], fill=(90, 70, 55))
        d.polygon([(x - 15, 420 - h), (x + 55, 420 - h - 70), (x + 125, 420 - h)], fill=(70, 40, 30))
        for k in range(3):                                            # flames
            fx = x + 10 + k * 35
            d.polygon([(fx, 420 - h), (fx + 18, 420 - h - 110 - k * 20), (fx + 36, 420 - h)], fill=(255, 120, 20))
            d.polygon([(fx + 8, 420 - h), (fx + 18, 420 - h - 55), (fx + 28, 420 - h)], fill=(255, 220, 60))
    d.ellipse([780, 40, 840, 100], fill=(230, 200, 170))              # a smoky moon
    save(img, "refs/burning_village.png")


def living_room():
    img, d = wide((225, 210, 185))
    d.rectangle([0, 430, 1024, 576], fill=(150, 110, 75))            # wooden floor
    d.rectangle([620, 90, 900, 330], fill=(170, 210, 240))            # window
    d.rectangle([755, 90, 765, 330], fill=(250, 250, 250))
    d.rectangle([620, 205, 900, 215], fill=(250, 250, 250))
    d.rounded_rectangle([90, 300, 520, 460], radius=30, fill=(110, 130, 150))   # sofa
    d.rounded_rectangle([70, 280, 140, 460], radius=25, fill=(95, 115, 135))
    d.rounded_rectangle([470, 280, 540, 460], radius=25, fill=(95, 115, 135))
    d.rectangle([330, 470, 560, 490], fill=(120, 80, 50))             # coffee table
    d.ellipse([580, 480, 940, 560], fill=(180, 60, 60))               # rug
    d.rectangle([940, 250, 960, 430], fill=(80, 60, 40))              # lamp
    d.polygon([(905, 250), (995, 250), (975, 190), (925, 190)], fill=(250, 230, 170))
    save(img, "refs/living_room.png")


def coffee_shop():
    img, d = wide((120, 85, 60))
    d.rectangle([0, 440, 1024, 576], fill=(90, 60, 40))
    d.rectangle([60, 60, 420, 260], fill=(35, 45, 40))                # chalkboard menu
    for k in range(5):
        d.rectangle([90, 90 + k * 32, 250 + (k % 3) * 50, 100 + k * 32], fill=(230, 230, 220))
    d.rounded_rectangle([100, 320, 620, 470], radius=30, fill=(70, 120, 80))   # worn green couch
    d.rounded_rectangle([80, 300, 150, 470], radius=25, fill=(60, 105, 70))
    d.rounded_rectangle([570, 300, 640, 470], radius=25, fill=(60, 105, 70))
    d.rectangle([700, 250, 1024, 440], fill=(60, 40, 30))             # counter
    d.rectangle([760, 180, 860, 250], fill=(190, 190, 195))           # espresso machine
    d.ellipse([300, 480, 420, 520], fill=(160, 110, 70))              # low table
    save(img, "refs/coffee_shop.png")


def samoyed(view="front"):
    img = Image.new("RGB", PORTRAIT, (190, 215, 200))
    d = ImageDraw.Draw(img)
    white, shade = (250, 250, 248), (225, 225, 220)
    d.ellipse([96, 330, 416, 600], fill=white)                        # fluffy body
    for x in (140, 210, 290, 350):
        d.rounded_rectangle([x, 540, x + 40, 700], radius=18, fill=shade)
    d.ellipse([340, 300, 470, 420], fill=white)                       # curled tail
    hx = 256 + {"front": 0, "left": -30, "right": 30}[view]
    d.ellipse([hx - 110, 150, hx + 110, 360], fill=white)             # head
    d.polygon([(hx - 95, 190), (hx - 70, 90), (hx - 35, 170)], fill=white)
    d.polygon([(hx + 95, 190), (hx + 70, 90), (hx + 35, 170)], fill=white)
    d.ellipse([hx - 48, 230, hx - 30, 248], fill=(20, 20, 20))
    d.ellipse([hx + 30, 230, hx + 48, 248], fill=(20, 20, 20))
    d.ellipse([hx - 16, 280, hx + 16, 302], fill=(20, 20, 20))
    d.chord([hx - 30, 290, hx + 30, 340], 0, 180, fill=(230, 120, 130))   # the Samoyed smile
    return img


def series():
    for view in ("front", "left"):
        save(figure((210, 225, 240), (60, 40, 30), (80, 110, 70), (50, 60, 90), view=view),
             f"series/refs/detective_{view}.png")
    for view in ("front", "left"):
        save(figure((240, 225, 210), (200, 200, 205), (120, 40, 50), (40, 40, 45), view=view,
                    hair_style="bob"), f"series/refs/landlady_{view}.png")
    img, d = wide((70, 80, 95))                                       # the rainy harbour office
    d.rectangle([0, 380, 1024, 576], fill=(55, 50, 45))
    d.rectangle([120, 80, 480, 330], fill=(120, 140, 160))
    for x in range(130, 480, 24):
        d.line([x, 85, x - 12, 325], fill=(170, 185, 200), width=2)   # rain on the window
    d.rectangle([560, 300, 940, 330], fill=(100, 70, 45))             # desk
    d.rectangle([580, 330, 600, 420], fill=(80, 55, 35))
    d.rectangle([900, 330, 920, 420], fill=(80, 55, 35))
    d.polygon([(700, 230), (760, 230), (780, 300), (680, 300)], fill=(230, 200, 90))  # lamp
    save(img, "series/refs/harbour_office.png")


def main() -> None:
    terrace()
    burning_village()
    living_room()
    coffee_shop()
    hero = dict(bg=(200, 190, 170), hair=(150, 150, 160), top=(110, 110, 120), legs=(70, 50, 40),
                hair_style="helmet", extra=hero_extra)
    for view in ("front", "left", "right"):
        save(figure(view=view, **hero), f"refs/hero_{view}.png")
    grace = dict(bg=(235, 220, 230), hair=(220, 180, 90), top=(200, 80, 110), legs=(60, 70, 110),
                 hair_style="long")
    alan = dict(bg=(215, 230, 220), hair=(50, 35, 25), top=(60, 70, 90), legs=(90, 80, 70),
                skin=SKIN_DARK, hair_style="beard")
    for view in ("front", "left"):
        save(figure(view=view, **grace), f"refs/grace_{view}.png")
        save(figure(view=view, **alan), f"refs/alan_{view}.png")
    save(samoyed(), "refs/samoyed.png")
    save(samoyed("left"), "refs/samoyed_left.png")
    series()


if __name__ == "__main__":
    main()
