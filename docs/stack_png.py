"""Stack PNG images of one width top to bottom into one PNG (standard library only: zlib,
struct). Reads 8-bit RGB / RGBA / grey non-interlaced PNGs (what `stylegan` writes); writes RGB.

    python3 docs/stack_png.py OUT.png IN1.png IN2.png ...
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    assert depth == 8 and interlace == 0, f"{path}: only 8-bit non-interlaced PNGs"
    ch = {0: 1, 2: 3, 6: 4, 4: 2}[ctype]
    raw = zlib.decompress(idat)
    stride = w * ch
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        prev = line
        rgb = bytearray()
        for x in range(w):
            px = line[x * ch:(x + 1) * ch]
            rgb += bytes(px[:3]) if ch >= 3 else bytes([px[0]] * 3)
        rows.append(bytes(rgb))
    return w, rows


def write_png(path, w, rows):
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, len(rows), 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def main():
    out, ins = sys.argv[1], sys.argv[2:]
    width, rows = None, []
    for p in ins:
        w, r = read_png(p)
        assert width in (None, w), f"{p}: width {w}, expected {width}"
        width = w
        rows += r
    write_png(out, width, rows)


if __name__ == "__main__":
    main()
