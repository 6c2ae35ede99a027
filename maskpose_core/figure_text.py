"""Text for the figures in pure numpy: a 7×13 px bitmap font (no Pillow, no matplotlib in the core).

The glyphs are DejaVu Sans Mono at 11 px, rendered once without anti-aliasing and stored
here as 13 rows of 7 bits each (two hex digits a row, most significant bit = leftmost of the 7
columns). DejaVu's licence (Bitstream Vera / public domain changes) allows embedding. A
character without a glyph is drawn as ``?``.

    draw_text(canvas, "GT mask", x=4, y=2, color=(0, 0, 0))     # in place, clipped to the canvas
"""
from __future__ import annotations

import numpy as np

GLYPH_W_PX, GLYPH_H_PX = 7, 13

_HEX: dict[str, str] = {
    ' ': "00000000000000000000000000",
    'A': "0000000c0c0c12121e21210000",
    'B': "0000003e21213e2121213e0000",
    'C': "0000000e1120202020110e0000",
    'D': "0000003c2221212121223c0000",
    'E': "0000003f20203f2020203f0000",
    'F': "0000003f20203f202020200000",
    'G': "0000000e1120202321110e0000",
    'H': "0000002121213f212121210000",
    'I': "0000003e0808080808083e0000",
    'J': "0000000e0202020202221c0000",
    'K': "00000022242830282422210000",
    'L': "000000202020202020203f0000",
    'M': "0000002133332d2d2121210000",
    'N': "00000021312929252523210000",
    'O': "0000001e3321212121331e0000",
    'P': "0000003e2121213e2020200000",
    'Q': "0000001e3321212121331e0300",
    'R': "0000003e2121213e2221200000",
    'S': "0000001e21203c0301211e0000",
    'T': "0000007f080808080808080000",
    'U': "000000212121212121211e0000",
    'V': "00000021211212120c0c0c0000",
    'W': "00000041494955363622220000",
    'X': "0000002112120c0c1212210000",
    'Y': "0000006322141c080808080000",
    'Z': "0000003f0202040818103f0000",
    'a': "00000000003c021e22221e0000",
    'b': "00002020203c222222223c0000",
    'c': "00000000001e302020301e0000",
    'd': "00000202021e222222221e0000",
    'e': "00000000001c223e20201e0000",
    'f': "00000608083e08080808080000",
    'g': "00000000001e222222221e021c",
    'h': "00002020202c32222222220000",
    'i': "000008000038080808083e0000",
    'j': "00000800003808080808080830",
    'k': "00002020202428302824220000",
    'l': "000070101010101010100c0000",
    'm': "00000000003e2a2a2a2a2a0000",
    'n': "00000000002c32222222220000",
    'o': "00000000001c222222221c0000",
    'p': "00000000003c222222223c2020",
    'q': "00000000001e222222221e0202",
    'r': "00000000001e12101010100000",
    's': "00000000001e203806023c0000",
    't': "00000010107c101010101c0000",
    'u': "000000000022222222221e0000",
    'v': "00000000002222141414080000",
    'w': "00000000000202545428280000",
    'x': "00000000003614080814360000",
    'y': "00000000002224141418081030",
    'z': "00000000003e040c18103e0000",
    '0': "0000001e3321252121331e0000",
    '1': "000000380808080808083e0000",
    '2': "0000001e210103060c103f0000",
    '3': "0000001e21011e0301211e0000",
    '4': "00000006060a12323f02020000",
    '5': "0000003e20203e0301013e0000",
    '6': "0000000f10202e3121211e0000",
    '7': "0000003f020204040808100000",
    '8': "0000001e21211e2121211e0000",
    '9': "0000001e2121211f01023c0000",
    '.': "00000000000000000008080000",
    ',': "00000000000000000008081000",
    ':': "00000000000808000008080000",
    ';': "00000000000808000008081000",
    '-': "000000000000001c0000000000",
    '+': "000000000008083e0808000000",
    '=': "0000000000007e007e00000000",
    '/': "00000002040408080810102000",
    '(': "00000810101010101010100800",
    ')': "00001010080808080808101000",
    '[': "00001810101010101010101800",
    ']': "00001808080808080808081800",
    '%': "0000007050720c106e0a0e0000",
    '·': "00000000000008080000000000",
    '×': "00000000002214081422000000",
    '_': "00000000000000000000000000",
    "'": "00000008080800000000000000",
    'ψ': "000000002a2a2a2a2a3c080800",
    '|': "00000808080808080808080808",
    '<': "0000000000010e301c03000000",
    '>': "0000000000201c030e30000000",
    '†': "00000008083e08080808080800",
    '?': "0000001c02060c080800080000",
}


def _bitmap(hex_rows: str) -> np.ndarray:
    rows = [int(hex_rows[2 * i:2 * i + 2], 16) for i in range(GLYPH_H_PX)]
    return np.array([[(r >> (GLYPH_W_PX - 1 - c)) & 1 for c in range(GLYPH_W_PX)] for r in rows], dtype=bool)


GLYPHS: dict[str, np.ndarray] = {c: _bitmap(h) for c, h in _HEX.items()}   # (13, 7) bool each


def text_width(text: str, scale: int = 1) -> int:
    """Width in pixels of ``text`` drawn at ``scale`` (every glyph is GLYPH_W_PX wide)."""
    return len(text) * GLYPH_W_PX * scale


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """(13·scale, 7·len(text)·scale) bool: where ``text`` is inked."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if not text:
        return np.zeros((GLYPH_H_PX * scale, 0), dtype=bool)
    ink = np.concatenate([GLYPHS.get(c, GLYPHS["?"]) for c in text], axis=1)
    return ink.repeat(scale, axis=0).repeat(scale, axis=1)


def draw_text(canvas: np.ndarray, text: str, *, x: int, y: int, color, scale: int = 1) -> None:
    """Ink ``text`` onto ``canvas`` (H, W, 3) uint8 in place, top-left at pixel (x, y); what
    falls outside the canvas is clipped."""
    ink = text_mask(text, scale)
    h, w = canvas.shape[:2]
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + ink.shape[0], h), min(x + ink.shape[1], w)
    if y1 <= y0 or x1 <= x0:
        return
    sub = ink[y0 - y:y1 - y, x0 - x:x1 - x]
    canvas[y0:y1, x0:x1][sub] = np.asarray(color, dtype=np.uint8)
