#!/usr/bin/python3
"""make_image_fixtures.py — writes the small images tests/engine/test_image.c decodes.

Run from the repository root:  /usr/bin/python3 scripts/make_image_fixtures.py
Output goes to tests/fixtures/images/. The generated files are committed, so
`make test` needs neither this script nor the JPEG tools.

PNGs are written here with zlib + struct only (rows use filter types y % 5,
so libpng's unfiltering is exercised too). Pixel values come from the formulas
below; test_image.c computes the same formulas, so keep the two in step:

    rgb(x, y)  = ((20x + 80y + 5) % 256, (255 - 15x - 50y) % 256, (37xy + 11) % 256)
    gray(x, y) = (20x + 70y + 3) % 256
    alpha(x,y) = (255 - 60x - 7y) % 256         (ignored by the decoder)
    16-bit:  r16 = 256 * r + 17x + 3y, likewise g, b  (decoded as v / 257)
    palette: PALETTE[(x + 2y) % 6], 4-bit indices, tRNS on entries 0 and 1
    gray1:   255 if (x + y) odd else 0, 1-bit

JPEGs need cjpeg/djpeg (Debian: libjpeg-turbo-progs). The source picture is
jpeg_src(x, y) below, 17x11 (partial MCUs on both axes); djpeg's decoding of
each JPEG is stored beside it (.ppm / .pgm) as the values the engine must
reproduce (within a small tolerance, since IDCT variants may differ).
"""
import os
import struct
import subprocess
import sys
import zlib

OUT = os.path.join("tests", "fixtures", "images")

PALETTE = [(0, 0, 0), (255, 255, 255), (200, 30, 40), (10, 180, 60), (20, 40, 230), (128, 128, 0)]


def rgb(x, y):
    return ((20 * x + 80 * y + 5) % 256, (255 - 15 * x - 50 * y) % 256, (37 * x * y + 11) % 256)


def gray(x, y):
    return (20 * x + 70 * y + 3) % 256


def alpha(x, y):
    return (255 - 60 * x - 7 * y) % 256


def jpeg_src(x, y):
    return ((x * 15) % 256, (y * 23) % 256, 128 + ((x // 4 + y // 4) % 2) * 60)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(ftype, row, prev, bpp):
    """PNG filter of one raw row (bytes) given the previous raw row."""
    out = bytearray()
    for i, v in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev is not None else 0
        c = prev[i - bpp] if (prev is not None and i >= bpp) else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
        out.append((v - pred) % 256)
    return bytes(out)


def png_bytes(w, h, bit_depth, color_type, raw_rows, bpp, extra=b"", interlace=False):
    """raw_rows: function (list of (x, y) pixel coords in a row) -> packed bytes."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                  (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        images = []
        for x0, y0, dx, dy in passes:
            xs = list(range(x0, w, dx))
            ys = list(range(y0, h, dy))
            if xs and ys:
                images.append([[(x, y) for x in xs] for y in ys])
    else:
        images = [[[(x, y) for x in range(w)] for y in range(h)]]
    data = bytearray()
    for rows in images:
        prev = None
        for ry, coords in enumerate(rows):
            raw = raw_rows(coords)
            ftype = ry % 5
            data.append(ftype)
            data += filter_row(ftype, raw, prev, bpp)
            prev = raw
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(bytes(data), 9)) + chunk(b"IEND", b""))


def pack_bits(values, depth):
    out, acc, n = bytearray(), 0, 0
    for v in values:
        acc = (acc << depth) | v
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def u16(v):
    return struct.pack(">H", v)


def rgb16(x, y):
    return tuple(256 * c + 17 * x + 3 * y for c in rgb(x, y))


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print("%-26s %5d bytes" % (name, len(data)))


def make_pngs():
    W, H = 4, 3
    write("rgb_4x3.png", png_bytes(W, H, 8, 2, lambda cs: bytes(v for x, y in cs for v in rgb(x, y)), 3))
    write("rgba_4x3.png", png_bytes(W, H, 8, 6, lambda cs: bytes(
        v for x, y in cs for v in rgb(x, y) + (alpha(x, y),)), 4))
    write("gray_4x3.png", png_bytes(W, H, 8, 0, lambda cs: bytes(gray(x, y) for x, y in cs), 1))
    write("graya_4x3.png", png_bytes(W, H, 8, 4, lambda cs: bytes(
        v for x, y in cs for v in (gray(x, y), alpha(x, y))), 2))
    write("gray1_4x3.png", png_bytes(W, H, 1, 0, lambda cs: pack_bits([(x + y) % 2 for x, y in cs], 1), 1))
    plte = chunk(b"PLTE", bytes(v for c in PALETTE for v in c)) + chunk(b"tRNS", bytes([0, 128]))
    write("palette_4x3.png", png_bytes(W, H, 4, 3, lambda cs: pack_bits(
        [(x + 2 * y) % 6 for x, y in cs], 4), 1, extra=plte))
    write("rgb16_4x3.png", png_bytes(W, H, 16, 2, lambda cs: b"".join(
        u16(v) for x, y in cs for v in rgb16(x, y)), 6))
    write("rgba16_4x3.png", png_bytes(W, H, 16, 6, lambda cs: b"".join(
        u16(v) for x, y in cs for v in rgb16(x, y) + (257 * alpha(x, y),)), 8))
    write("interlaced_9x7.png", png_bytes(9, 7, 8, 2, lambda cs: bytes(
        v for x, y in cs for v in rgb(x, y)), 3, interlace=True))
    # decompression-bomb headers: only IHDR matters, the decoder must stop there
    tiny_idat = chunk(b"IDAT", zlib.compress(b"\0" * 4))
    for name, (w, h) in (("bomb_side.png", (20000, 1)), ("bomb_area.png", (12000, 9000))):
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        write(name, b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + tiny_idat + chunk(b"IEND", b""))


def run(cmd, data):
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def make_jpegs():
    W, H = 17, 11
    src = b"P6\n%d %d\n255\n" % (W, H) + bytes(v for y in range(H) for x in range(W) for v in jpeg_src(x, y))
    variants = [("small.jpg", ["-quality", "90"], "small_jpg_djpeg.ppm"),
                ("progressive.jpg", ["-quality", "90", "-progressive"], "progressive_jpg_djpeg.ppm"),
                ("gray.jpg", ["-quality", "90", "-grayscale"], "gray_jpg_djpeg.pgm")]
    for name, opts, ref in variants:
        jpg = run(["cjpeg"] + opts, src)
        write(name, jpg)
        fmt = "-pnm"
        write(ref, run(["djpeg", fmt, "-dct", "int"], jpg))
    # bomb: small.jpg with the SOF0 frame size patched to 20000 x 20000
    jpg = bytearray(open(os.path.join(OUT, "small.jpg"), "rb").read())
    i = 2
    while i + 4 <= len(jpg):
        marker, seglen = jpg[i + 1], struct.unpack(">H", jpg[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            jpg[i + 5:i + 9] = struct.pack(">HH", 20000, 20000)  # height, width
            break
        i += 2 + seglen
    else:
        sys.exit("no SOF marker in small.jpg")
    write("bomb.jpg", bytes(jpg))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_pngs()
    make_jpegs()
