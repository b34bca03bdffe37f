"""Draw the brand images in custom_components/slimme_meter/brand/.

Run: ../shared/tools/pyroot .venv-newest/bin/python scripts/brand.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).parents[1] / "custom_components" / "slimme_meter" / "brand"
BLUE = (3, 105, 161, 255)
AMBER = (245, 158, 11, 255)


def icon(size: int, dark: bool) -> Image.Image:
    """A smart meter: a rounded case, a display and a lightning bolt."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = size / 256
    case = (240, 244, 248, 255) if dark else BLUE
    screen = BLUE if dark else (240, 244, 248, 255)
    draw.rounded_rectangle((24 * s, 16 * s, 232 * s, 240 * s), 36 * s, fill=case)
    draw.rounded_rectangle((52 * s, 44 * s, 204 * s, 112 * s), 14 * s, fill=screen)
    bolt = [
        (140, 128),
        (92, 188),
        (124, 188),
        (108, 232),
        (164, 164),
        (130, 164),
        (148, 128),
    ]
    draw.polygon([(x * s, y * s) for x, y in bolt], fill=AMBER)
    for i in range(5):
        x = 66 + i * 26
        draw.rounded_rectangle((x * s, 60 * s, (x + 18) * s, 96 * s), 4 * s, fill=case)
    return image


def logo(height: int, dark: bool) -> Image.Image:
    """The icon with the name beside it."""
    mark = icon(height, dark)
    font_size = int(height * 0.42)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", font_size)
    except OSError:
        font = ImageFont.load_default(font_size)
    text = "Slimme Meter"
    width = int(height * 1.15 + font.getlength(text))
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste(mark, (0, 0), mark)
    colour = (240, 244, 248, 255) if dark else (15, 23, 42, 255)
    ImageDraw.Draw(image).text(
        (int(height * 1.1), height // 2), text, font=font, fill=colour, anchor="lm"
    )
    return image


def main() -> None:
    """Write every image Home Assistant looks for."""
    OUT.mkdir(parents=True, exist_ok=True)
    for dark, prefix in ((False, ""), (True, "dark_")):
        icon(256, dark).save(OUT / f"{prefix}icon.png", optimize=True)
        icon(512, dark).save(OUT / f"{prefix}icon@2x.png", optimize=True)
        logo(128, dark).save(OUT / f"{prefix}logo.png", optimize=True)
        logo(256, dark).save(OUT / f"{prefix}logo@2x.png", optimize=True)


if __name__ == "__main__":
    main()
