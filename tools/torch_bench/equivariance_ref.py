"""Reference values for the equivariance operators (EQ-T, EQ-T_frac, EQ-R) with torch's own
primitives: torch.fft for the band-limit filters, F.conv2d for the FIR passes (upfirdn2d's
reference semantics: zero-insert, pad, convolve with the flipped filter), F.affine_grid and
F.grid_sample for the resampling. Written from the definitions in the StyleGAN3 paper's
Appendix E and the official metric's documented behaviour, to check stylegan-rs against torch's
conventions (grid_sample's align_corners=False, rounding, FFT order).

    python tools/torch_bench/equivariance_ref.py OUT.json

writes the input images, the transform parameters and every operator's output and mask.
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F


def sinc(x):
    y = (x * math.pi).abs()
    return torch.where(y < 1e-30, torch.ones_like(x), torch.sin(y) / y.clamp(min=1e-30))


def lanczos(x, a):
    x = x.abs() / a
    return torch.where(x < 1, sinc(x), torch.zeros_like(x))


def rot(angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def fir(x, f, pad, up=1, gain=1.0):
    """upfirdn2d's reference: zero-insert by `up`, pad [x0, x1, y0, y1], true convolution."""
    n, c, h, w = x.shape
    if up > 1:
        z = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, pad)
    k = (f.flip([0, 1]) * gain).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


def int_shift(x, tx, ty):
    _, _, h, w = x.shape
    ix, iy = int(round(tx * w)), int(round(ty * h))
    z, m = torch.zeros_like(x), torch.zeros_like(x)
    if abs(ix) < w and abs(iy) < h:
        for yy in range(h):
            for xx in range(w):
                if 0 <= yy - iy < h and 0 <= xx - ix < w:
                    z[:, :, yy, xx] = x[:, :, yy - iy, xx - ix]
                    m[:, :, yy, xx] = 1
    return z, m


def frac_shift(x, tx, ty, a=3):
    _, _, h, w = x.shape
    txp, typ = torch.tensor(tx * w, dtype=torch.float32), torch.tensor(ty * h, dtype=torch.float32)
    ix, iy = int(txp.floor()), int(typ.floor())
    fx, fy = float(txp - ix), float(typ - iy)
    b = a - 1
    taps = torch.arange(2 * a, dtype=torch.float64) - b
    gx = sinc(taps - fx) * sinc((taps - fx) / a)
    gy = sinc(taps - fy) * sinc((taps - fy) / a)
    gx, gy = gx / gx.sum(), gy / gy.sum()
    # filter2d with padding [b, a] on one axis: upfirdn2d padding [b + 6//2, a + 5//2], then
    # the crop of the valid part and its placement in a zero image.
    y = fir(x.double(), gx[None, :], [b + 3, a + 2, 0, 0])
    y = fir(y, gy[:, None], [0, 0, b + 3, a + 2])
    z = torch.zeros_like(x)
    zx0, zy0 = max(ix - b, 0), max(iy - b, 0)
    zx1, zy1 = min(ix + a, 0) + w, min(iy + a, 0) + h
    if zx0 < zx1 and zy0 < zy1:
        y = y[:, :, max(b - iy, 0):h + b + a + min(-iy - a, 0), max(b - ix, 0):w + b + a + min(-ix - a, 0)]
        z[:, :, zy0:zy1, zx0:zx1] = y.float()
    m = torch.zeros_like(x)
    m[:, :, max(iy + a, 0):min(iy - b, 0) + h, max(ix + a, 0):min(ix - b, 0) + w] = 1
    return z, m


def bandlimit(mat, a, amax, up, aflt=64):
    n = aflt * up * 2 - 1
    i = torch.arange(n, dtype=torch.float64)
    taps = torch.where(i <= n // 2, i / up, (i - n) / up)
    yi, xi = torch.meshgrid(taps, taps, indexing="ij")
    m = mat[:2, :2]
    xo = m[0, 0] * xi + m[0, 1] * yi
    yo = m[1, 0] * xi + m[1, 1] * yi
    conv = lambda p, q: torch.fft.ifftn(torch.fft.fftn(p) * torch.fft.fftn(q)).real
    f = conv(sinc(xi) * sinc(yi), sinc(xo) * sinc(yo))
    wnd = conv(lanczos(xi, a) * lanczos(yi, a), lanczos(xo, a) * lanczos(yo, a))
    f = f * wnd
    k0 = amax * up - 1
    side = 2 * amax * up
    idx = (torch.arange(side - 1) - k0) % n
    g = torch.zeros(side, side, dtype=torch.float64)
    g[: side - 1, : side - 1] = f[idx][:, idx]
    g = g.reshape(2 * amax, up, 2 * amax, up)
    g = g / g.sum(dim=(0, 2), keepdim=True) / up**2
    return g.reshape(side, side)[:-1, :-1]


def rotate(x, angle, up=4):
    _, _, h, w = x.shape
    mat = rot(angle)
    f = bandlimit(mat, 3, 6, up)
    p = f.shape[0] // 2
    fs = f.shape[0]
    y = fir(x.double(), f, [p + (fs + up - 1) // 2, p + (fs - up) // 2] * 2, up=up, gain=up * up)
    theta = torch.linalg.inv(mat)
    theta[:2, 2] *= 2
    theta[0, 2] += 1 / up / w
    theta[1, 2] += 1 / up / h
    theta[0, :] *= w / (w + p / up * 2)
    theta[1, :] *= h / (h + p / up * 2)
    grid = F.affine_grid(theta[None, :2, :], list(x.shape), align_corners=False)
    z = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    m = torch.zeros_like(y)
    c = 2 * p + 1
    m[:, :, c:-c, c:-c] = 1
    m = F.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return z.float(), m.float(), f


def pseudo(x, angle):
    f = bandlimit(rot(-angle), 3, 6, 1)
    k = f.shape[0] // 2
    y = fir(x.double(), f, [k, k, k, k])
    m = torch.zeros_like(x)
    m[:, :, k:-k, k:-k] = 1
    return y.float(), m, f


def main():
    out = sys.argv[1]
    rng = np.random.RandomState(7)
    n, c, h, w = 1, 2, 24, 28
    x = torch.tensor(rng.uniform(-1, 1, size=(n, c, h, w)).astype(np.float32))
    rec = {"shape": [n, c, h, w], "x": x.flatten().tolist(), "cases": []}
    for tx, ty in [(0.1, -0.05), (-0.125, 0.125), (0.03, 0.0)]:
        z, m = int_shift(x, tx, ty)
        rec["cases"].append({"op": "int", "tx": tx, "ty": ty, "z": z.flatten().tolist(),
                             "m": m[0, 0].flatten().tolist()})
    for tx, ty in [(0.0731, -0.0412), (-0.118, 0.0047), (0.0, 0.0)]:
        z, m = frac_shift(x, tx, ty)
        rec["cases"].append({"op": "frac", "tx": tx, "ty": ty, "z": z.flatten().tolist(),
                             "m": m[0, 0].flatten().tolist()})
    for angle in [0.3, -2.0, math.pi / 2]:
        z, m, f = rotate(x, angle)
        rec["cases"].append({"op": "rot", "angle": angle, "z": z.flatten().tolist(),
                             "m": m[0, 0].flatten().tolist(), "f": f.flatten().tolist()})
        z, m, f = pseudo(x, angle)
        rec["cases"].append({"op": "pseudo", "angle": angle, "z": z.flatten().tolist(),
                             "m": m[0, 0].flatten().tolist(), "f": f.flatten().tolist()})
    # Filters of the first angle only; 7 significant digits keep the file small.
    for case in rec["cases"][8:]:
        case.pop("f", None)
    short = lambda v: [float(f"{e:.7g}") for e in v] if isinstance(v, list) else v
    rec["x"] = short(rec["x"])
    rec["cases"] = [{k: short(v) for k, v in case.items()} for case in rec["cases"]]
    with open(out, "w") as fh:
        json.dump(rec, fh, separators=(",", ":"))


if __name__ == "__main__":
    main()
