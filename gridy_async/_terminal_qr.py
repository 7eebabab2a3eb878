"""QR codes in a terminal: read a QR code's modules from a PNG and draw them as text.

Gridy sends the QR code as an image, not as the data inside it, so showing it
in a terminal means reading the image back into modules. Pillow decodes the
PNG (the ``cli`` extra); the sampling below relies only on the shape every QR
code shares, its finder patterns.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["qr_modules", "render_qr"]

_HALF_BLOCKS = {
    (False, False): " ",
    (True, False): "\u2580",  # upper half block
    (False, True): "\u2584",  # lower half block
    (True, True): "\u2588",  # full block
}


def qr_modules(png: bytes) -> list[list[bool]]:
    """Read the modules of the QR code in a PNG image (True is dark).

    The symbol's top-left corner is the first dark pixel; its finder pattern's
    top edge is seven modules wide, which gives the module size; each module
    is then read at its centre. Works for any scale and quiet zone, for
    transparent backgrounds, and for Micro QR codes.

    Raises:
        ValueError: The image cannot be read, or holds no QR code of a
            size QR codes come in.
    """
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        gray = _on_white(image)
    width = gray.width
    pixels = gray.tobytes()

    def dark(x: float, y: float) -> bool:
        return pixels[int(y) * width + int(x)] < 128

    box = gray.point([255 if v < 128 else 0 for v in range(256)]).getbbox()
    if box is None:
        raise ValueError("the image is blank")
    left, top, right, bottom = box
    run = next((n for n in range(right - left) if not dark(left + n, top)), 0)
    module = run / 7
    size = round((right - left) / module) if module else 0

    if not _plausible(size, module, right - left, bottom - top):
        raise ValueError("the image does not hold a QR code")
    modules = [
        [dark(left + (c + 0.5) * module, top + (r + 0.5) * module) for c in range(size)]
        for r in range(size)
    ]
    if not _has_finders(modules):
        raise ValueError("the image does not hold a QR code")
    return modules


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        from PIL import Image

        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return image.convert("L")


def _plausible(size: int, module: float, width: int, height: int) -> bool:
    # QR codes are 21 to 177 modules a side, in steps of 4; Micro QR codes
    # 11 to 17, in steps of 2.
    return (
        ((21 <= size <= 177 and (size - 21) % 4 == 0) or size in (11, 13, 15, 17))
        and abs(size * module - width) <= module / 2
        and abs(height - width) <= module / 2
    )


def _has_finders(modules: list[list[bool]]) -> bool:
    far = len(modules) - 7
    corners = [(0, 0)] if len(modules) < 21 else [(0, 0), (0, far), (far, 0)]
    return all(
        modules[row + r][col + c] == _FINDER[r][c]
        for row, col in corners
        for r in range(7)
        for c in range(7)
    )


_FINDER = [
    [r in (0, 6) or c in (0, 6) or (2 <= r <= 4 and 2 <= c <= 4) for c in range(7)]
    for r in range(7)
]


def render_qr(modules: list[list[bool]], *, border: int = 4) -> list[str]:
    """Draw QR modules as text, two module rows per line, with half blocks.

    A block character is ink (dark); a space is paper. ``border`` modules of
    quiet zone surround the symbol.
    """
    size = len(modules)

    def dark(r: int, c: int) -> bool:
        r, c = r - border, c - border
        return 0 <= r < size and 0 <= c < size and modules[r][c]

    side = size + 2 * border
    return [
        "".join(_HALF_BLOCKS[dark(r, c), dark(r + 1, c)] for c in range(side))
        for r in range(0, side, 2)
    ]
