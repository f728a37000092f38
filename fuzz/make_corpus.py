#!/usr/bin/python3
"""make_corpus.py — writes the seed corpora fuzz/corpus/<target>/ for the fuzz targets.

Run from the repository root:  /usr/bin/python3 fuzz/make_corpus.py
Every seed is made here from scratch (the standard library only; the JPEG
seeds also need cjpeg/jpegtran and a C compiler with libjpeg, and are kept as
they are when those are missing). The output is committed, so neither `make
test` nor `make fuzz` needs this script. Seeds are small on purpose: the
fuzzer grows its own corpus from them in a scratch folder.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- wire: a mode byte, then frames separated by 0xFF --------------------------

def wire(mode, frames):
    return bytes([mode]) + b"\xff".join(f if isinstance(f, bytes) else f.encode() for f in frames)


def header(msg_type, msg_id="a1b2"):
    return json.dumps({"msg_id": msg_id, "msg_type": msg_type, "session": "s-1",
                       "username": "fuzz", "date": "2024-01-01T00:00:00.000000Z",
                       "version": "5.3"}, separators=(",", ":"))


def seeds_wire():
    D = "<IDS|MSG>"
    execute = json.dumps({"code": "print(1)", "silent": False, "store_history": True,
                          "user_expressions": {}, "allow_stdin": True})
    put("wire", "plain", wire(0, ["id-1", D, "", header("execute_request"), "{}", "{}", execute]))
    put("wire", "signed", wire(2, ["id-1", D, "", header("execute_request"), "{}", "{}", execute]))
    put("wire", "badsig", wire(1, ["id-1", D, "0" * 64, header("kernel_info_request"), "{}", "{}",
                                   "{}"]))
    put("wire", "noids", wire(2, [D, "", header("kernel_info_request"), "{}", "{}", "{}"]))
    put("wire", "twoids_buffers", wire(2, ["a", "b", D, "", header("comm_msg"),
                                           header("execute_request", "p"), '{"k":1}',
                                           '{"data":{}}', "\x00\x01buffer", "more"]))
    put("wire", "scheme_sha512", wire(3, ["hmac-sha512", "secret", "x", D, "sig",
                                          header("shutdown_request"), "{}", "{}",
                                          '{"restart":false}']))
    put("wire", "scheme_md5", wire(3, ["hmac-md5", "k", D, "", header("is_complete_request"),
                                       "{}", "{}", '{"code":"x = "}']))
    put("wire", "scheme_bad", wire(3, ["sha256", "k", D]))
    put("wire", "nodelim", wire(0, ["id", "", header("x"), "{}", "{}", "{}"]))
    put("wire", "short", wire(0, ["id", D, "", header("x"), "{}"]))
    put("wire", "notobject", wire(0, [D, "", "[1,2]", "{}", "null", "{}"]))
    put("wire", "noheaderfields", wire(2, [D, "", '{"msg_type":1,"msg_id":"x"}', "{}", "{}", "{}"]))
    put("wire", "dupkeys", wire(0, [D, "", '{"msg_id":"1","msg_id":"2","msg_type":"t"}', "{}",
                                    "{}", "{}"]))
    put("wire", "utf8", wire(2, [D, "", header("complete_request"), "{}", "{}",
                                 json.dumps({"code": "caf\u00e9 \U0001F600", "cursor_pos": 5},
                                            ensure_ascii=False)]))


# ---- json: message frames, connection files, raw text for the UTF-8 helpers ----

def seeds_json():
    put("json", "header", header("execute_request"))
    put("json", "content", json.dumps({"code": "x = 1\nprint(x)", "silent": False,
                                       "user_expressions": {"a": "x"}, "cursor_pos": 3}))
    put("json", "connection", json.dumps({"shell_port": 5555, "iopub_port": 5556,
                                          "stdin_port": 5557, "control_port": 5558,
                                          "hb_port": 5559, "ip": "127.0.0.1",
                                          "key": "a0b1c2", "transport": "tcp",
                                          "signature_scheme": "hmac-sha256",
                                          "kernel_name": "mgv"}, indent=1))
    put("json", "connection_ipc", '{"transport":"ipc","ip":"/tmp/k","shell_port":0,'
                                  '"key":"","signature_scheme":"hmac-sha256"}')
    put("json", "connection_badport", '{"shell_port":70000,"iopub_port":-1,"hb_port":1.5}')
    put("json", "nested", '{"a":[1,-2.5e-3,true,false,null,{"b":{"c":[[],{}]}}],'
                          '"s":"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"}')
    put("json", "numbers", '{"i":9223372036854775807,"n":-0,"r":1e308,"f":0.1,"e":1E-7}')
    put("json", "dup", '{"k":1,"k":2}')
    put("json", "array", '[1,"two",{"three":3}]')
    put("json", "utf8_valid", "plain ascii, caf\u00e9, \u4e2d\u6587, \U0001F600 end")
    put("json", "utf8_cut2", b"abc\xc3")
    put("json", "utf8_cut3", b"abc\xe4\xb8")
    put("json", "utf8_cut4", b"abc\xf0\x9f\x98")
    put("json", "utf8_invalid", b"a\x80b\xc0\xafc\xed\xa0\x80d\xf5\x80\x80\x80e\xff")
    put("json", "empty", b"")


# ---- mnre: one Python dict literal per line (lines written here) ----------------

def mnre_line(tokens, h, t, img, rel, quote="'"):
    def s(x):
        return quote + x.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote
    toks = "[" + ", ".join(s(x) for x in tokens) + "]"
    return ("{%s: %s, %s: {%s: %s, %s: [%d, %d]}, %s: {%s: %s, %s: [%d, %d]}, %s: %s, %s: %s}" %
            (s("token"), toks, s("h"), s("name"), s(h[0]), s("pos"), h[1], h[2],
             s("t"), s("name"), s(t[0]), s("pos"), t[1], t[2], s("img_id"), s(img),
             s("relation"), s(rel)))


def seeds_mnre():
    a = mnre_line(["Alice", "Smith", "visits", "Paris", "today"], ("Alice Smith", 0, 2),
                  ("Paris", 3, 4), "fuzz_0001.jpg", "/per/loc/place_of_residence")
    b = mnre_line(["Team", "Blue", "beats", "Team", "Red"], ("Team Blue", 0, 2),
                  ("Team Red", 3, 5), "fuzz_0002.jpg", "/org/org/competitor", quote='"')
    c = mnre_line(["caf\u00e9", "\U0001F600", "Bob", "'s", "dog"], ("Bob", 2, 3),
                  ("dog", 4, 5), "fuzz_0003.jpg", "None")
    put("mnre", "one_line", a + "\n")
    put("mnre", "three_lines", a + "\n\n" + b + "\n" + c + "\n")
    put("mnre", "extra_keys", "{'token': ['x', 'y'], 'h': {'name': 'x', 'pos': [0, 1], 'type': 'per'},"
                              " 't': {'name': 'y', 'pos': (1, 2)}, 'img_id': 'i.jpg',"
                              " 'relation': 'r', 'extra': [None, True, False, 1.5e3, -7, ()]}\n")
    put("mnre", "escapes", "{'token': ['\\x41\\u00e9\\U0001F600', 'b\\n\\t\\'q\\'', r'raw\\d',"
                           " u'uni', 'a' 'b', '''tri'''], 'h': {'name': 'a', 'pos': [0, 1]},"
                           " 't': {'name': 'b', 'pos': [1, 2]}, 'img_id': '\\101.jpg',"
                           " 'relation': '/x/y'}  # comment\n")
    put("mnre", "bad_span", "{'token': ['a'], 'h': {'name': 'a', 'pos': [0, 2]},"
                            " 't': {'name': 'a', 'pos': [0, 1]}, 'img_id': 'i', 'relation': 'r'}\n")
    put("mnre", "literals", "[1, 2.5, -3e-2, 0x1F, 0o17, 0b101, 1_000, .5, 5., (1,), {}, [],"
                            " {'k': 1, 'k': 2}, \"s\", 'a\\\nb', None, True, False]")
    put("mnre", "syntax_error", "{'token': ['a', 'b'], 'h': {'name': 'a' 'pos': [0, 1]}}\n")


# ---- met: WikiDiverse-style JSON (entries written here) ------------------------

def seeds_met():
    entries = [
        ["Alice Smith met Bob in Z\u00fcrich.", "https://example.org/img/0/0a/Alice_and_Bob.jpg",
         "news", [["Alice Smith", "Person", 0, 11, "https://example.org/wiki/Alice"],
                  ["Z\u00fcrich", "Location", 23, 29, None]]],
        ["No mentions here.", "https://example.org/img/1/1b/empty.png", "misc", []],
        ["\U0001F600 Team Red won.", "https://example.org/x/Team%20Red", "sports",
         [["Team Red", "Organization", 2, 10, "https://example.org/wiki/Team_Red"]]],
    ]
    put("met", "three_entries", json.dumps(entries, ensure_ascii=False, indent=1))
    put("met", "ascii_escapes", json.dumps(entries[:1]))
    put("met", "bad_offsets", json.dumps([["short", "u.jpg", "t", [["x", "T", 3, 99, None]]]]))
    put("met", "bad_shape", '[["s", "u.jpg", "t"], {"a": 1}]')
    put("met", "url", "https://example.org/wiki/images/a/ab/Some_File.name.JPG")
    put("met", "url_noext", "https://example.org/img/plain")


# ---- safetensors ----------------------------------------------------------------

def st_file(entries, meta=None, pad=True):
    """entries: list of (name, dtype, shape, raw bytes)."""
    hdr, blob = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, raw in entries:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def seeds_safetensors():
    f32 = struct.pack("<6f", 1, -2, 0.5, 3.25, -0.0, 1e30)
    put("safetensors", "f32", st_file([("w", "F32", [2, 3], f32)], {"format": "pt"}))
    put("safetensors", "dtypes", st_file([
        ("a", "F16", [3], struct.pack("<3e", 1.0, -2.5, 65504.0)),
        ("b", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
        ("c", "F64", [2], struct.pack("<2d", 3.5, -1e-300)),
        ("d", "I64", [1], struct.pack("<q", -(1 << 62))),
        ("e", "I32", [2], struct.pack("<2i", 7, -7)),
        ("f", "I16", [1], struct.pack("<h", -300)),
        ("g", "I8", [2], struct.pack("<2b", -1, 1)),
        ("h", "U8", [2], bytes([0, 255])),
        ("i", "BOOL", [2], bytes([0, 1])),
    ]))
    put("safetensors", "scalar_empty", st_file([("s", "F32", [], struct.pack("<f", 2.0)),
                                                ("z", "F32", [0, 4], b"")]))
    put("safetensors", "meta_only", st_file([], {"k": "v", "epoch": "3"}))
    put("safetensors", "f16_special", st_file([("x", "F16", [4], struct.pack("<4H", 0x7C00, 0xFC00,
                                                                             0x7E00, 0x0001))]))
    put("safetensors", "bad_offsets", st_file([("w", "F32", [2], struct.pack("<f", 1))]))
    put("safetensors", "bad_header", struct.pack("<Q", 12) + b'{"a":[1,2]} ' + b"\0" * 8)
    put("safetensors", "short", b"\x10\x00")


# ---- png: every colour type and bit depth, interlacing, ancillary chunks --------

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png(w, h, color, depth, interlace=0, extra=b"", palette=None, trns=None, rows=None):
    spp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    bpp_bits = spp * depth

    def row_bytes(width):
        return (width * bpp_bits + 7) // 8

    def raw_rows(width, height, seed):
        out = b""
        for y in range(height):
            out += bytes([y % 5]) + bytes(((x * 37 + y * 11 + seed) % 256)
                                          for x in range(row_bytes(width)))
        return out

    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                  (1, 0, 2, 2), (0, 1, 1, 2)]
        data = b""
        for i, (x0, y0, dx, dy) in enumerate(passes):
            pw, ph = (w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy
            if pw > 0 and ph > 0:
                data += raw_rows(pw, ph, i)
    else:
        data = rows if rows is not None else raw_rows(w, h, 0)
    if color == 3:  # keep indices inside the palette
        n = len(palette) // 3
        data = bytes(b if i % (row_bytes(w) + 1) == 0 else b % max(1, n) for i, b in enumerate(data)) \
            if depth == 8 else data
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0,
                                                             interlace))
    out += extra
    if palette is not None:
        out += chunk(b"PLTE", palette)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(data, 9)) + chunk(b"IEND", b"")


def seeds_png():
    pal = bytes(range(0, 256, 1))[:48]  # 16 entries
    for color, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (3, (1, 2, 4, 8)), (4, (8, 16)),
                          (6, (8, 16))):
        for depth in depths:
            put("png", "c%d_d%d" % (color, depth),
                png(5, 3, color, depth, palette=pal if color == 3 else None))
    put("png", "interlaced_rgb", png(9, 7, 2, 8, interlace=1))
    put("png", "interlaced_gray16", png(3, 5, 0, 16, interlace=1))
    put("png", "palette_trns", png(4, 3, 3, 4, palette=pal, trns=b"\x00\x80"))
    put("png", "gray_trns", png(4, 3, 0, 8, trns=b"\x00\x10"))
    put("png", "rgb_trns", png(4, 3, 2, 8, trns=b"\x00\x10\x00\x20\x00\x30"))
    extra = (chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"sRGB", b"\x00") +
             chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)) +
             chunk(b"tEXt", b"Comment\x00fuzz seed") +
             chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 16)) +
             chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"text")))
    put("png", "ancillary", png(2, 2, 6, 8, extra=extra))
    put("png", "one_pixel", png(1, 1, 0, 1))
    put("png", "truncated", png(6, 4, 2, 8)[:-30])
    big = png(600, 600, 0, 8)   # over the harness's pixel limit: skipped before decoding
    put("png", "too_big_header", big[:33] + chunk(b"IEND", b""))


# ---- jpeg: cjpeg/jpegtran variants, and CMYK/YCCK from libjpeg directly ----------

CMYK_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
/* usage: cmyk OUT CS(0 cmyk, 1 ycck) ADOBE(0/1) */
int main(int argc, char **argv)
{
    if (argc < 4) return 2;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    FILE *f = fopen(argv[1], "wb");
    if (!f) return 1;
    jpeg_stdio_dest(&ci, f);
    ci.image_width = 12;
    ci.image_height = 10;
    ci.input_components = 4;
    ci.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, atoi(argv[2]) ? JCS_YCCK : JCS_CMYK);
    ci.write_Adobe_marker = atoi(argv[3]) ? TRUE : FALSE;
    jpeg_set_quality(&ci, 75, TRUE);
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[12 * 4];
    while (ci.next_scanline < ci.image_height) {
        for (int x = 0; x < 48; x++) row[x] = (unsigned char)(x * 5 + ci.next_scanline * 20);
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
    return 0;
}
"""


def seeds_jpeg():
    if not shutil.which("cjpeg") or not shutil.which("jpegtran"):
        print("make_corpus: no cjpeg/jpegtran; JPEG seeds left as they are", file=sys.stderr)
        return
    tmp = tempfile.mkdtemp()
    try:
        w, h = 17, 11
        ppm = os.path.join(tmp, "in.ppm")
        with open(ppm, "wb") as f:
            f.write(b"P6\n%d %d\n255\n" % (w, h))
            f.write(bytes(((x * 15 + y * 40 + c * 80) % 256) for y in range(h) for x in range(w)
                          for c in range(3)))
        pgm = os.path.join(tmp, "in.pgm")
        with open(pgm, "wb") as f:
            f.write(b"P5\n%d %d\n255\n" % (w, h))
            f.write(bytes(((x * 15 + y * 40) % 256) for y in range(h) for x in range(w)))

        def cj(name, args, src=ppm):
            out = subprocess.run(["cjpeg", "-quality", "60"] + args + [src], check=True,
                                 capture_output=True).stdout
            put("jpeg", name, out)
            return out

        base = cj("baseline_420", ["-sample", "2x2"])
        cj("baseline_444", ["-sample", "1x1"])
        cj("baseline_422", ["-sample", "2x1"])
        cj("gray", ["-grayscale"], src=pgm)
        cj("progressive", ["-progressive"])
        cj("arithmetic", ["-arithmetic"])
        cj("restart", ["-restart", "1B"])
        cj("optimize", ["-optimize", "-dct", "float"])
        cj("smooth_q100", ["-quality", "100", "-smooth", "20"])
        cj("rgb_colorspace", ["-rgb"])
        src = os.path.join(tmp, "base.jpg")
        with open(src, "wb") as f:
            f.write(base)
        for name, args in (("tran_progressive_arith", ["-progressive", "-arithmetic"]),
                           ("tran_grayscale", ["-grayscale"])):
            out = subprocess.run(["jpegtran"] + args + [src], check=True,
                                 capture_output=True).stdout
            put("jpeg", name, out)
        put("jpeg", "truncated", base[: len(base) * 2 // 3])
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc:
            c = os.path.join(tmp, "cmyk.c")
            exe = os.path.join(tmp, "cmyk")
            with open(c, "w") as f:
                f.write(CMYK_C)
            subprocess.run([cc, "-O1", "-o", exe, c, "-ljpeg"], check=True)
            for name, cs, adobe in (("cmyk_adobe", 0, 1), ("cmyk_plain", 0, 0), ("ycck", 1, 1)):
                out = os.path.join(tmp, name)
                subprocess.run([exe, out, str(cs), str(adobe)], check=True)
                with open(out, "rb") as f:
                    put("jpeg", name, f.read())
    finally:
        shutil.rmtree(tmp)


# ---- glove: the package's JSON shape, and a cache ---------------------------------

def glove_cache(words, vectors):
    dim = len(vectors[0])
    wl = b"".join(w.encode() + b"\0" for w in words)
    h = 1469598103934665603
    for b in wl:
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    matrix = b"".join(struct.pack("<%df" % dim, *v) for v in vectors)
    hdr = (b"MGVGLOVE" + struct.pack("<IIQQQQQII", 1, dim, len(words), 64, 64 + len(matrix),
                                     len(wl), h, 0x01020304, 0))
    return hdr + matrix + wl


def seeds_glove():
    put("glove", "package", '{"precision":8,"l2NormIndex":3,"wordIndex":4,"size":3,"dimensions":3,'
                            '"words":["the","caf\\u00e9","x"],"vectors":{"the":[0.5,-1.25,3e-2,1.3,0],'
                            '"caf\\u00e9":[1,2,3,3.7,1],"\\ud83d\\ude00":[-0.0,1E2,2e-2,2,2],'
                            '"x":[1,1,1,1.7,3]},"unkVector":[0,0,0,0,-1]}')
    put("glove", "nodims", '{"vectors":{"a":[1,2],"b":[3,4],"a":[5,6]}}')
    put("glove", "dims_after", '{"vectors":{"a":[1,2,3]},"dimensions":2,'
                               '"nested":{"k":[true,false,null,{"z":[]},"s\\/\\n"]}}')
    put("glove", "bom_ws", '\ufeff \n{ "dimensions" : 1 , "vectors" : { "w" : [ 1e-45 , 2 ] } }\n')
    put("glove", "bad_row", '{"dimensions":3,"vectors":{"a":[1,2]}}')
    put("glove", "overflow", '{"vectors":{"a":[1e39]}}')
    put("glove", "empty_vectors", '{"vectors":{}}')
    put("glove", "cache", glove_cache(["the", "of", "the"], [[1, 2], [3, 4], [5, 6]]))
    put("glove", "cache_bad", glove_cache(["a"], [[1.0]])[:-1] + b"x")


def main():
    for f in (seeds_wire, seeds_json, seeds_mnre, seeds_met, seeds_safetensors, seeds_png,
              seeds_jpeg, seeds_glove):
        f()


if __name__ == "__main__":
    main()
