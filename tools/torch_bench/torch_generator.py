"""The StyleGAN2 and StyleGAN3 generators in PyTorch, as the official code runs them on a CPU,
to time them against `stylegan bench` on the same weights.

The official `networks_stylegan2.py` falls back to its reference ops on a CPU (the CUDA plugins
only load on a GPU): `upfirdn2d` as a padded depthwise `conv2d`, `bias_act` as plain tensor ops,
and in evaluation mode the fused modulated convolution (styles and demodulation folded into a
grouped conv weight, groups = batch). This file implements those same computations (written
from the op definitions in ../../shared/FORMATS.md, not copied), loads a native stylegan-rs
checkpoint (official parameter names), and checks itself against the parity fixtures.

StyleGAN3 (`training.networks_stylegan3`) on a CPU runs `filtered_lrelu`'s reference: bias_act,
upfirdn2d with the 1-D filters (two depthwise passes over the zero-inserted planes), lrelu +
gain + clamp, upfirdn2d down; the modulated conv as one grouped conv.

    python torch_generator.py check  FIXTURES_DIR          # sg2_32, sg3t_32: images vs the official ones
    python torch_generator.py bench  NETWORK.safetensors --batches 1,8 --iters 3 --threads 2
    python torch_generator.py images NETWORK.safetensors --seeds 0,1 --out DIR   # raw .npy
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open


# ---------------------------------------------------------------------------------------------
# Reference ops (FORMATS.md §2)


def upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """Zero-insert, pad (negative = crop), true convolution with f (2-D, 1-D = separable, or
    None = identity), keep every down-th sample."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = pad
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is None:
        x = x * gain if gain != 1.0 else x
    elif f.ndim == 2:
        k = (f * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
        x = F.conv2d(x, k, groups=c)
    else:  # separable: horizontal then vertical pass, each with gain**0.5
        k = (f * gain ** 0.5).flip([0])
        x = F.conv2d(x, k[None, None, None, :].repeat(c, 1, 1, 1), groups=c)
        x = F.conv2d(x, k[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x, f):
    fw = f.shape[1]
    p = [(fw + 1) // 2, (fw - 2) // 2]
    return upfirdn2d(x, f, up=2, pad=(p[0], p[1], p[0], p[1]), gain=4.0)


def conv2d_resample(x, w, f, up, padding, groups):
    """`conv2d_resample` for up ∈ {1, 2} with flip_weight = (up == 1) (no flips either way)."""
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    fw = f.shape[1]
    _, _, kh, kw = w.shape
    px0 = padding + (fw + up - 1) // 2 - (kw - 1)
    px1 = padding + (fw - up) // 2 - (kw - up)
    pxt = max(min(-px0, -px1), 0)
    o, i = w.shape[0] // groups, w.shape[1]
    wt = w.reshape(groups, o, i, kh, kw).transpose(1, 2).reshape(groups * i, o, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=up, padding=pxt, groups=groups)
    p = (px0 + pxt, px1 + pxt, px0 + pxt, px1 + pxt)
    return upfirdn2d(x, f, pad=p, gain=up * up)


def bias_act(x, b, act, gain, clamp):
    x = x + b.reshape(1, -1, 1, 1)
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    if gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def modulated_conv2d(x, weight, styles, demodulate, up, padding, f):
    """The fused path: one grouped conv with the per-sample modulated weights."""
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    w = weight[None] * styles.reshape(n, 1, i, 1, 1)
    if demodulate:
        d = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * d.reshape(n, o, 1, 1, 1)
    x = x.reshape(1, n * i, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(n * o, i, kh, kw), f, up, padding, groups=n)
    return x.reshape(n, o, *x.shape[2:])


# ---------------------------------------------------------------------------------------------
# Network (FORMATS.md §3), evaluation mode


def read_generator(path):
    """The generator's tensors (G_ema, or the single network) and its init_kwargs."""
    with safe_open(path, "pt") as fh:
        meta = fh.metadata()
        prefix = "G_ema." if any(k.startswith("G_ema.") for k in fh.keys()) else ""
        p = {k[len(prefix):]: fh.get_tensor(k).float() for k in fh.keys() if k.startswith(prefix)}
    return p, json.loads(meta[prefix + "init_kwargs"])


class Generator:
    def __init__(self, path, default_map_layers=8, default_clamp=None):
        self.p, kw = read_generator(path)
        self.kw = kw
        self.z_dim, self.w_dim, self.res = kw["z_dim"], kw["w_dim"], kw["img_resolution"]
        mk = dict(kw.get("mapping_kwargs", {}))
        self.map_layers = mk.get("num_layers", default_map_layers)
        self.lr_mul = mk.get("lr_multiplier", 0.01)
        self.clamp = kw.get("conv_clamp", default_clamp)
        assert kw.get("c_dim", 0) == 0, "conditional networks are not needed for the benchmark"
        self.setup(kw)

    def setup(self, kw):
        assert kw.get("architecture", "skip") == "skip"
        self.log2 = int(math.log2(self.res))
        self.num_ws = 2 * (self.log2 - 1)

    def fc(self, name, x, lr_mul, act):
        w = self.p[name + ".weight"]
        w = w * (lr_mul / math.sqrt(w.shape[1]))
        b = self.p[name + ".bias"] * lr_mul
        x = torch.addmm(b.unsqueeze(0), x, w.t())
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if act else x

    def mapping(self, z, psi):
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.map_layers):
            x = self.fc(f"mapping.fc{i}", x, self.lr_mul, True)
        if psi != 1:
            x = self.p["mapping.w_avg"].lerp(x, psi)
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)

    def layer(self, name, x, w, up, noise_mode):
        p = self.p
        styles = self.fc(name + ".affine", w, 1.0, False)
        f = p[f"{name.rsplit('.', 1)[0]}.resample_filter"] if up > 1 else None
        x = modulated_conv2d(x, p[name + ".weight"], styles, True, up, 1, f)
        if noise_mode == "const":
            x = x + p[name + ".noise_const"] * p[name + ".noise_strength"]
        clamp = self.clamp
        return bias_act(x, p[name + ".bias"], "lrelu", math.sqrt(2), clamp)

    def torgb(self, name, x, w):
        p = self.p
        i = p[name + ".weight"].shape[1]
        styles = self.fc(name + ".affine", w, 1.0, False) / math.sqrt(i)
        x = modulated_conv2d(x, p[name + ".weight"], styles, False, 1, 0, None)
        return bias_act(x, p[name + ".bias"], "linear", 1.0, self.clamp)

    @torch.no_grad()
    def synthesis(self, ws, noise_mode="const"):
        n = ws.shape[0]
        x = img = None
        wi = 0
        for r in range(2, self.log2 + 1):
            b = f"synthesis.b{2 ** r}"
            if r == 2:
                x = self.p[b + ".const"].unsqueeze(0).repeat(n, 1, 1, 1)
                x = self.layer(b + ".conv1", x, ws[:, wi], 1, noise_mode)
                img = self.torgb(b + ".torgb", x, ws[:, wi + 1])
                wi += 1
            else:
                x = self.layer(b + ".conv0", x, ws[:, wi], 2, noise_mode)
                x = self.layer(b + ".conv1", x, ws[:, wi + 1], 1, noise_mode)
                img = upsample2d(img, self.p[b + ".resample_filter"]) + self.torgb(b + ".torgb", x, ws[:, wi + 2])
                wi += 2
        return img

    @torch.no_grad()
    def __call__(self, z, psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, psi), noise_mode)


class Generator3(Generator):
    """StyleGAN3 (FORMATS.md §5), evaluation mode, configs T and R (R: 1×1 convs, the radial
    2-D down filters as stored); the mapping and fully connected layers are StyleGAN2's."""

    def __init__(self, path):
        super().__init__(path, default_map_layers=2, default_clamp=256)

    def setup(self, kw):
        self.output_scale = kw.get("output_scale", 0.25)
        self.layers = self.design(kw)
        self.num_ws = len(self.layers) + 1

    def design(self, kw):
        """Layer names, up/down factors and paddings (FORMATS.md §5.3); filters are read."""
        n, ncrit = kw.get("num_layers", 14), kw.get("num_critical", 2)
        r, margin = self.res, kw.get("margin_size", 10)
        fc0, fs0 = kw.get("first_cutoff", 2), kw.get("first_stopband", 2 ** 2.1)
        e = np.minimum(np.arange(n + 1) / (n - ncrit), 1)
        stop = fs0 * (r / 2 * kw.get("last_stopband_rel", 2 ** 0.3) / fs0) ** e
        cut = fc0 * (r / 2 / fc0) ** e
        sr = np.exp2(np.ceil(np.log2(np.minimum(stop * 2, r))))
        sizes = sr + margin * 2
        sizes[-2:] = r
        ch = np.rint(np.minimum((kw.get("channel_base", 32768) / 2) / cut, kw.get("channel_max", 512)))
        ch[-1] = 3
        self.in_size, self.in_rate, self.in_bw = int(sizes[0]), float(sr[0]), float(cut[0])
        out = []
        for i in range(n + 1):
            prev, torgb = max(i - 1, 0), i == n
            tmp = max(sr[prev], sr[i]) * (1 if torgb else kw.get("lrelu_upsampling", 2))
            up, down = int(np.rint(tmp / sr[prev])), int(np.rint(tmp / sr[i]))
            k = 1 if torgb else kw.get("conv_kernel", 3)
            fs = kw.get("filter_size", 6)
            ut = fs * up if up > 1 and not torgb else 1
            dt = fs * down if down > 1 and not torgb else 1
            total = (sizes[i] - 1) * down + 1 - (sizes[prev] + k - 1) * up + ut + dt - 2
            lo = int((total + up) // 2)
            hi = int(total - lo)
            out.append((f"synthesis.L{i}_{int(sizes[i])}_{int(ch[i])}", up, down, (lo, hi, lo, hi), k, torgb))
        return out

    def input(self, w):
        p = self.p
        c = p["synthesis.input.freqs"].shape[0]
        size, rate, bw = self.in_size, self.in_rate, self.in_bw
        t = self.fc("synthesis.input.affine", w, 1.0, False)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        n = w.shape[0]
        m_r = torch.eye(3).unsqueeze(0).repeat(n, 1, 1)
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3).unsqueeze(0).repeat(n, 1, 1)
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        tr = m_r @ m_t @ p["synthesis.input.transform"].unsqueeze(0)
        freqs = p["synthesis.input.freqs"].unsqueeze(0)
        phases = p["synthesis.input.phases"].unsqueeze(0) + (freqs @ tr[:, :2, 2:]).squeeze(2)
        freqs = freqs @ tr[:, :2, :2]
        amp = (1 - (freqs.norm(dim=2) - bw) / (rate / 2 - bw)).clamp(0, 1)
        theta = torch.eye(2, 3)
        theta[0, 0] = theta[1, 1] = 0.5 * size / rate
        grid = F.affine_grid(theta.unsqueeze(0), [1, 1, size, size], align_corners=False)
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (2 * math.pi)) * amp.unsqueeze(1).unsqueeze(2)
        x = x @ (p["synthesis.input.weight"] / math.sqrt(c)).t()
        return x.permute(0, 3, 1, 2)

    def layer(self, spec, x, w):
        name, up, down, pad, k, torgb = spec
        p = self.p
        weight = p[name + ".weight"]
        s = self.fc(name + ".affine", w, 1.0, False)
        n, (o, i) = x.shape[0], weight.shape[:2]
        if torgb:
            s = s / math.sqrt(i * k * k)
        else:
            weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
            s = s * s.square().mean().rsqrt()
        wm = weight[None] * s.reshape(n, 1, i, 1, 1)
        if not torgb:
            wm = wm * (wm.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, o, 1, 1, 1)
        wm = wm * p[name + ".magnitude_ema"].rsqrt()
        x = F.conv2d(x.reshape(1, n * i, *x.shape[2:]), wm.reshape(n * o, i, k, k), padding=k - 1, groups=n)
        x = x.reshape(n, o, *x.shape[2:]) + p[name + ".bias"].reshape(1, -1, 1, 1)
        x = upfirdn2d(x, p.get(name + ".up_filter"), up=up, pad=pad, gain=up * up)
        if not torgb:
            x = F.leaky_relu(x, 0.2) * math.sqrt(2)
        x = x.clamp(-self.clamp, self.clamp) if self.clamp is not None else x
        return upfirdn2d(x, p.get(name + ".down_filter"), down=down)

    @torch.no_grad()
    def synthesis(self, ws, noise_mode="const"):
        x = self.input(ws[:, 0])
        for j, spec in enumerate(self.layers):
            x = self.layer(spec, x, ws[:, j + 1])
        return x * self.output_scale

    @torch.no_grad()
    def __call__(self, z, psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, psi), noise_mode)


def load(path):
    """Generator or Generator3, by the checkpoint's class name."""
    with safe_open(path, "pt") as fh:
        meta = fh.metadata()
    cls = meta.get("class_name") or meta.get("G_ema.class_name", "")
    return Generator3(path) if cls.endswith("networks_stylegan3.Generator") else Generator(path)


def z_from_seeds(seeds, z_dim):
    return torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in seeds])).float()


# ---------------------------------------------------------------------------------------------


def check(fixtures):
    status = 0
    for config in ("sg2_32", "sg3t_32"):
        d = os.path.join(fixtures, config)
        g = load(os.path.join(d, "G_ema.safetensors"))
        worst = 0.0
        for seed in (0, 1, 2, 3, 42):
            for psi in (1.0, 0.7):
                for noise in ("const", "none"):
                    want = np.load(os.path.join(d, f"{seed}_{psi:g}_{noise}.npy"))
                    got = g(z_from_seeds([seed], g.z_dim), psi, noise).numpy()
                    worst = max(worst, float(np.abs(got - want).max()))
        print(f"{config}: max abs difference to the official images {worst:.2e}")
        status |= 0 if worst <= 1e-3 else 1
    return status


def bench(path, batches, iters, threads):
    torch.set_num_threads(threads)
    g = load(path)
    for batch in batches:
        z = z_from_seeds(range(batch), g.z_dim)
        g(z)
        t = time.perf_counter()
        for _ in range(iters):
            g(z)
        secs = (time.perf_counter() - t) / iters
        print(f"| pytorch {torch.__version__} | {g.res}x{g.res} | {batch} | {batch / secs:.3f} | {1000 * secs / batch:.1f} |")
    return 0


def images(path, seeds, out):
    g = load(path)
    os.makedirs(out, exist_ok=True)
    for s in seeds:
        np.save(os.path.join(out, f"seed{s:04d}.npy"), g(z_from_seeds([s], g.z_dim)).numpy())
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["check", "bench", "images"])
    ap.add_argument("path")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--out", default="torch_images")
    a = ap.parse_args()
    if a.what == "check":
        return check(a.path)
    if a.what == "bench":
        return bench(a.path, [int(b) for b in a.batches.split(",")], a.iters, a.threads)
    return images(a.path, [int(s) for s in a.seeds.split(",")], a.out)


if __name__ == "__main__":
    sys.exit(main())
