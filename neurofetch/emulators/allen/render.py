"""The Allen imageservice's pictures at any size, fast: what a region of a plate looks like under a view,
a channel range (the Equalization model's or the request's) and a colormap (reference/allen.md §1.1, §1.3).

The plate is drawn once as a one-byte image whose high four bits name what a pixel shows (background,
tissue, a structure) and whose low four bits are grain; every colour choice is then one 256-entry palette,
so a full-resolution plate costs a few passes in Pillow's C code plus the JPEG encoder, whatever the filters.
The colours are invented; what is faithful is that each parameter changes the picture the way its name says.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from neurofetch.emulators.allen.data import STRUCTURES, Record, Region

Rgb = tuple[int, int, int]
VIEWS = ("expression", "projection", "tumor_feature_annotation", "tumor_feature_boundary")
# ImageDownloadApi.COLORMAPS: the ids of the tuple form ``colormap=0.5,<threshold>,0,256,<id>``
COLORMAPS = (
    "gray",
    "hotmetal",
    "jet",
    "redtemp",
    "expression",
    "red",
    "blue",
    "green",
    "aba",
    "aibsmap_alt",
    "colormap",
    "projection",
)
FULL_RANGE = (0, 4095, 0, 4095, 0, 4095)
GRAIN_TILE = 256

# label → colour, per view; label 0 is the slide, 1 the tissue, 2 its inner part, 3.. the drawn structures
PLAIN: dict[str | None, tuple[Rgb, Rgb, Rgb]] = {
    None: ((236, 234, 240), (150, 120, 180), (120, 90, 160)),  # Nissl / ISH bright field
    "expression": ((0, 0, 0), (24, 24, 48), (250, 200, 40)),  # expression mask: hot spots on black
    "projection": ((0, 0, 0), (12, 44, 12), (60, 230, 90)),  # fluorescent axons
    "tumor_feature_annotation": ((236, 234, 240), (200, 70, 70), (70, 70, 200)),
    "tumor_feature_boundary": ((236, 234, 240), (40, 40, 40), (236, 234, 240)),
}


@dataclass(frozen=True)
class Look:
    """Everything besides the region that decides the pixels: view, channel range, colormap."""

    view: str | None = None
    channel_range: tuple[int, int, int, int, int, int] = FULL_RANGE
    colormap: tuple[int, float] | None = None  # (colormap id, lower threshold 0..1)


def parse_range(text: str) -> tuple[int, int, int, int, int, int]:
    """``r_lo,r_hi,g_lo,g_hi,b_lo,b_hi`` in 0..4095, each low below its high; ValueError otherwise."""
    values = tuple(int(v) for v in text.split(","))
    if (
        len(values) != 6
        or not all(0 <= v <= 4095 for v in values)
        or not all(values[i] < values[i + 1] for i in (0, 2, 4))
    ):
        raise ValueError(f"range must be six integers lo,hi,lo,hi,lo,hi in 0..4095, not {text!r}")
    return values


def parse_colormap(text: str) -> tuple[int, float]:
    """A colormap name, or allensdk's tuple form ``0.5,<lower threshold>,0,256,<colormap id>``."""
    if text in COLORMAPS:
        return COLORMAPS.index(text), 0.0
    parts = text.split(",")
    if len(parts) == 5:
        try:
            threshold, ident = float(parts[1]), int(parts[4])
        except ValueError:
            pass
        else:
            if 0 <= ident < len(COLORMAPS) and 0 <= threshold <= 1:
                return ident, threshold
    raise ValueError(f"unknown colormap {text!r}")


def render_jpeg(
    record: Record, atlas: int | None, region: Region, quality: int, look: Look = Look(), *, seed: int = 0
) -> bytes:
    from PIL import Image, ImageChops, ImageDraw

    size = (region.width, region.height)
    labels = Image.new("L", size, 0)
    draw = ImageDraw.Draw(labels)
    x0, y0, x1, y1 = _section_box(record, region)
    if atlas is None:
        draw.ellipse((x0, y0, x1, y1), fill=1 << 4)
        w, h = x1 - x0, y1 - y0
        draw.ellipse((x0 + w * 0.2, y0 + h * 0.2, x1 - w * 0.2, y1 - h * 0.4), fill=2 << 4)
    else:
        for label, (_, _, scale) in enumerate(STRUCTURES, start=3):
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * scale, (y1 - y0) / 2 * scale
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=label << 4)
    picture = ImageChops.add(labels, _grain(size, region, _grain_tile(seed, record["id"])))
    del labels
    picture.putpalette(_palette(look, atlas is not None))
    rgb = picture.convert("RGB")
    del picture
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _section_box(record: Record, region: Region) -> tuple[float, float, float, float]:
    """The tissue's bounding box (the record's x/y/width/height) in output pixels."""
    factor = 2**region.downsample
    left, top = record["x"] / factor - region.column, record["y"] / factor - region.row
    return left, top, left + record["width"] / factor, top + record["height"] / factor


def _grain(size: tuple[int, int], region: Region, tile: Any) -> Any:
    """The grain tile repeated over the region, in the tier's own coordinates so that the tiles of a
    region fit the whole image."""
    from PIL import Image

    grain = Image.new("L", size, 0)
    left, top = -(region.column % GRAIN_TILE), -(region.row % GRAIN_TILE)
    for y in range(top, size[1], GRAIN_TILE):
        for x in range(left, size[0], GRAIN_TILE):
            grain.paste(tile, (x, y))
    return grain


@lru_cache(maxsize=64)
def _grain_tile(seed: int, image_id: int) -> Any:
    from PIL import Image

    rng = random.Random(f"{seed}:{image_id}:grain")
    half = GRAIN_TILE // 2
    small = Image.frombytes("L", (half, half), bytes(rng.randrange(16) for _ in range(half * half)))
    return small.resize((GRAIN_TILE, GRAIN_TILE), Image.Resampling.NEAREST)  # grain of 2 px


@lru_cache(maxsize=256)
def _palette(look: Look, annotated: bool) -> list[int]:
    base = list(PLAIN.get(look.view, PLAIN[None]))
    if annotated and look.view is None:
        base += [_hex(colour) for _, colour, _ in STRUCTURES]
    palette: list[int] = []
    for label in range(16):
        colour = base[label] if label < len(base) else base[0]
        for grain in range(16):
            palette.extend(_shade(colour, grain, look))
    return palette


def _shade(colour: Rgb, grain: int, look: Look) -> Rgb:
    # The stored image has 12 bits a channel; the range maps lo..hi of it onto 0..255 (§1.3).
    raw = [max(0, c * 16 + 8 - grain * 4) for c in colour]
    lo_hi = look.channel_range
    out = [
        min(255, max(0, round((value - lo_hi[2 * i]) * 255 / (lo_hi[2 * i + 1] - lo_hi[2 * i]))))
        for i, value in enumerate(raw)
    ]
    if look.colormap is None:
        return out[0], out[1], out[2]
    ident, threshold = look.colormap
    level = (out[0] * 299 + out[1] * 587 + out[2] * 114) / 255000
    return (0, 0, 0) if level < threshold else _colormap(ident, level)


def _colormap(ident: int, level: float) -> Rgb:
    """Colormap ``ident`` at ``level`` (0..1); gray, hotmetal and jet as they are known, the rest invented."""

    def byte(v: float) -> int:
        return max(0, min(255, round(v * 255)))

    if ident == 0:
        return byte(level), byte(level), byte(level)
    if ident == 1:
        return byte(level * 3), byte(level * 3 - 1), byte(level * 3 - 2)
    if ident == 2:
        return byte(1.5 - abs(4 * level - 3)), byte(1.5 - abs(4 * level - 2)), byte(1.5 - abs(4 * level - 1))
    hue = ident / len(COLORMAPS)
    return byte(level * (1 - hue)), byte(level * hue), byte(level * (0.5 + hue / 2))


def _hex(text: str) -> Rgb:
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
