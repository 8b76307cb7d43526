"""The official StyleGAN2 training step in PyTorch on the CPU, to time it against
`stylegan bench --what train` on the same configuration.

Written from the official definitions (`training/networks_stylegan2.py`, `training/loss.py`,
`training/training_loop.py` of the stylegan3 repository, as FORMATS.md describes them), not
copied. On a CPU the official code runs its reference ops (no CUDA plugins, conv2d_gradfix
off), and in training mode the modulated convolutions take the non-fused path (scale the
input by the styles, one batched conv with the shared weight, scale by the demodulation
coefficients). The phases are the official lazy-regularisation schedule:

* Gmain every minibatch: softplus(-D(G(z))) with style mixing (prob 0.9), D frozen;
* Greg every 4: the path-length penalty on batch/2 samples (double backprop, pl_weight 2,
  pl_decay 0.01), gain 4;
* Dmain every minibatch: softplus(D(G(z))) + softplus(-D(x));
* Dreg every 16: R1 (double backprop), gain 16;
* Adam (lr 0.0025, betas (0, 0.99)) with the lazy-regularisation ratios
  (lr * c, beta ** c with c = interval / (interval + 1)), gradients through nan_to_num;
* G_ema: beta = 0.5 ** (batch / min(ema_kimg * 1000, cur_nimg * 0.05)).

The network is `stylegan bench`'s training config: 32x32 RGB, channel_base 1024,
channel_max 64, z/w 256, 4 mapping layers, conv_clamp 256, D resnet with mbstd group 4.

    python torch_train.py --batch 16 --steps 32 --warmup 16 --threads 2 [--no-reg]

prints `| torch full recipe | sec/kimg |` rows like `stylegan bench --what train`.
"""

import argparse
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

# The reference upfirdn2d (FORMATS.md §2.3), shared with the generator benchmark beside this file.
from torch_generator import upfirdn2d

SQRT2 = math.sqrt(2.0)


def setup_filter():
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = f[:, None] * f[None, :]
    return f / f.sum()


def upsample2d(x, f):
    return upfirdn2d(x, f, up=2, pad=(2, 1, 2, 1), gain=4.0)


def conv2d_resample(x, w, f, up=1, down=1, padding=0):
    """conv2d_resample with flip_weight = (up == 1), up/down in {1, 2}, the 4-tap filter, and
    the cases the networks use (no 1x1 up-convolutions)."""
    kh = w.shape[2]
    if down > 1:
        # Filter pads padding + (4 - 2 + 1) // 2 and padding + (4 - 2) // 2: both padding + 1.
        p = padding + 1
        if kh == 1:  # downsample first, then the 1x1 conv
            return F.conv2d(upfirdn2d(x, f, down=down, pad=(p, p, p, p)), w)
        return F.conv2d(upfirdn2d(x, f, pad=(p, p, p, p)), w, stride=2)
    if up > 1:
        # Transposed conv (weight not flipped), then the filter: pads px0 = p + 2 - 2, px1 = p + 1 - 1.
        px0, px1 = padding + 2 - (kh - 1), padding + 1 - (kh - 2)
        pt = max(min(-px0, -px1), 0)
        x = F.conv_transpose2d(x, w.transpose(0, 1), stride=2, padding=pt)
        p = (px0 + pt, px1 + pt, px0 + pt, px1 + pt)
        return upfirdn2d(x, f, pad=p, gain=4.0)
    return F.conv2d(x, w, padding=padding)


def bias_act(x, b, act, gain, clamp):
    if b is not None:
        x = x + b.reshape(1, -1, 1, 1) if x.ndim == 4 else x + b.reshape(1, -1)
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    x = x * gain if gain != 1 else x
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FC(torch.nn.Module):
    def __init__(self, i, o, act=False, lr_mul=1.0, bias_init=0.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(o, i) / lr_mul)
        self.bias = torch.nn.Parameter(torch.full([o], float(bias_init)))
        self.wg, self.bg, self.act = lr_mul / math.sqrt(i), lr_mul, act

    def forward(self, x):
        w, b = self.weight * self.wg, self.bias * self.bg
        if self.act:
            return F.leaky_relu(torch.addmm(b.unsqueeze(0), x, w.t()), 0.2) * SQRT2
        return torch.addmm(b.unsqueeze(0), x, w.t())


class Conv(torch.nn.Module):
    """Conv2dLayer: equalised-lr conv with bias_act (D)."""

    def __init__(self, i, o, k, act="lrelu", bias=True, down=1, clamp=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(o, i, k, k))
        self.bias = torch.nn.Parameter(torch.zeros(o)) if bias else None
        self.register_buffer("f", setup_filter())
        self.wg, self.pad, self.down, self.act, self.clamp = 1 / math.sqrt(i * k * k), k // 2, down, act, clamp

    def forward(self, x, gain=1.0):
        x = conv2d_resample(x, self.weight * self.wg, self.f, down=self.down, padding=self.pad)
        g = (SQRT2 if self.act == "lrelu" else 1.0) * gain
        return bias_act(x, self.bias, self.act, g, None if self.clamp is None else self.clamp * gain)


def modulated_conv2d(x, weight, styles, noise, up, padding, f, demodulate):
    """The non-fused (training) path of the official modulated_conv2d."""
    n = x.shape[0]
    if demodulate:
        w = weight[None] * styles.reshape(n, 1, -1, 1, 1)
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    x = x * styles.reshape(n, -1, 1, 1)
    x = conv2d_resample(x, weight, f, up=up, padding=padding)
    if demodulate and noise is not None:
        return torch.addcmul(noise, x, dcoefs.reshape(n, -1, 1, 1))
    if demodulate:
        return x * dcoefs.reshape(n, -1, 1, 1)
    return x + noise if noise is not None else x


class SynthesisLayer(torch.nn.Module):
    def __init__(self, i, o, w_dim, res, up, clamp):
        super().__init__()
        self.affine = FC(w_dim, i, bias_init=1.0)
        self.weight = torch.nn.Parameter(torch.randn(o, i, 3, 3))
        self.bias = torch.nn.Parameter(torch.zeros(o))
        self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(res, res))
        self.register_buffer("f", setup_filter())
        self.up, self.res, self.clamp = up, res, clamp

    def forward(self, x, w):
        styles = self.affine(w)
        noise = torch.randn(x.shape[0], 1, self.res, self.res) * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise, self.up, 1, self.f, True)
        return bias_act(x, self.bias, "lrelu", SQRT2, self.clamp)


class ToRGB(torch.nn.Module):
    def __init__(self, i, o, w_dim, clamp):
        super().__init__()
        self.affine = FC(w_dim, i, bias_init=1.0)
        self.weight = torch.nn.Parameter(torch.randn(o, i, 1, 1))
        self.bias = torch.nn.Parameter(torch.zeros(o))
        self.wg, self.clamp = 1 / math.sqrt(i), clamp

    def forward(self, x, w):
        styles = self.affine(w) * self.wg
        x = modulated_conv2d(x, self.weight, styles, None, 1, 0, None, False)
        return bias_act(x, self.bias, None, 1.0, self.clamp)


class Generator(torch.nn.Module):
    def __init__(self, z_dim, res, ch, cbase, cmax, map_layers, clamp=256):
        super().__init__()
        self.z_dim, self.res = z_dim, res
        self.log2 = int(math.log2(res))
        chans = {2 ** r: min(cbase // 2 ** r, cmax) for r in range(2, self.log2 + 1)}
        self.mapping = torch.nn.ModuleList(FC(z_dim, z_dim, True, 0.01) for _ in range(map_layers))
        self.register_buffer("w_avg", torch.zeros(z_dim))
        self.const = torch.nn.Parameter(torch.randn(chans[4], 4, 4))
        self.blocks = torch.nn.ModuleDict()
        for r in range(2, self.log2 + 1):
            s = 2 ** r
            b = torch.nn.Module()
            if r > 2:
                b.conv0 = SynthesisLayer(chans[s // 2], chans[s], z_dim, s, 2, clamp)
            b.conv1 = SynthesisLayer(chans[s], chans[s], z_dim, s, 1, clamp)
            b.torgb = ToRGB(chans[s], ch, z_dim, clamp)
            self.blocks[str(s)] = b
        self.num_ws = 2 * (self.log2 - 1)
        self.register_buffer("f", setup_filter())

    def map(self, z, update_emas=False):
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for fc in self.mapping:
            x = fc(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, 0.995))
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesis(self, ws):
        n = ws.shape[0]
        x = self.const.unsqueeze(0).repeat(n, 1, 1, 1)
        img, wi = None, 0
        for r in range(2, self.log2 + 1):
            b = self.blocks[str(2 ** r)]
            if r == 2:
                x = b.conv1(x, ws[:, 0])
                img = b.torgb(x, ws[:, 1])
                wi = 1
            else:
                x = b.conv0(x, ws[:, wi])
                x = b.conv1(x, ws[:, wi + 1])
                img = upsample2d(img, self.f) + b.torgb(x, ws[:, wi + 2])
                wi += 2
        return img


class Discriminator(torch.nn.Module):
    def __init__(self, res, ch, cbase, cmax, mbstd=4, clamp=256):
        super().__init__()
        self.log2 = int(math.log2(res))
        chans = {2 ** r: min(cbase // 2 ** r, cmax) for r in range(2, self.log2 + 1)}
        self.fromrgb = Conv(ch, chans[res], 1, clamp=clamp)
        self.blocks = torch.nn.ModuleList()
        for r in range(self.log2, 2, -1):
            s = 2 ** r
            b = torch.nn.Module()
            b.conv0 = Conv(chans[s], chans[s], 3, clamp=clamp)
            b.conv1 = Conv(chans[s], chans[s // 2], 3, down=2, clamp=clamp)
            b.skip = Conv(chans[s], chans[s // 2], 1, act="linear", bias=False, down=2)
            self.blocks.append(b)
        c4 = chans[4]
        self.mbstd = mbstd
        self.conv = Conv(c4 + 1, c4, 3, clamp=clamp)
        self.fc = FC(c4 * 16, c4, True)
        self.out = FC(c4, 1)

    def forward(self, img):
        x = self.fromrgb(img)
        for b in self.blocks:
            y = b.skip(x, gain=math.sqrt(0.5))
            x = b.conv0(x)
            x = b.conv1(x, gain=math.sqrt(0.5))
            x = y + x
        n, c, h, w = x.shape
        g = min(self.mbstd, n)
        y = x.reshape(g, -1, 1, c, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        x = torch.cat([x, y], dim=1)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x)


class Trainer:
    def __init__(self, g, d, batch, reg, r1_gamma, ema_kimg):
        self.G, self.D, self.batch, self.reg = g, d, batch, reg
        self.G_ema = copy.deepcopy(g).eval().requires_grad_(False)
        self.r1_gamma, self.ema_kimg = r1_gamma, ema_kimg
        self.pl_mean = torch.zeros([])
        self.phases = []
        for name, mod, interval in [("G", g, 4), ("D", d, 16)]:
            if reg:
                c = interval / (interval + 1)
                opt = torch.optim.Adam(mod.parameters(), lr=0.0025 * c, betas=(0.0, 0.99 ** c), eps=1e-8)
                self.phases += [(name + "main", mod, opt, 1), (name + "reg", mod, opt, interval)]
            else:
                opt = torch.optim.Adam(mod.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
                self.phases += [(name + "both", mod, opt, 1)]
        self.G.requires_grad_(False)
        self.D.requires_grad_(False)
        self.batch_idx = self.cur_nimg = 0

    def run_g(self, z, update_emas=False):
        ws = self.G.map(z, update_emas)
        cutoff = int(torch.empty([], dtype=torch.int64).random_(1, ws.shape[1]))
        if float(torch.rand([])) >= 0.9:
            cutoff = ws.shape[1]
        ws = ws.clone()
        ws[:, cutoff:] = self.G.map(torch.randn_like(z))[:, cutoff:]
        return self.G.synthesis(ws), ws

    def accumulate(self, phase, real, z, gain):
        if phase in ("Gmain", "Gboth"):
            img, _ = self.run_g(z)
            F.softplus(-self.D(img)).mean().mul(gain).backward()
        if phase in ("Greg", "Gboth") and self.reg:
            n = z.shape[0] // 2
            img, ws = self.run_g(z[:n])
            noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            (grads,) = torch.autograd.grad([(img * noise).sum()], [ws], create_graph=True)
            lengths = grads.square().sum(2).mean(1).sqrt()
            pl_mean = self.pl_mean.lerp(lengths.mean(), 0.01)
            self.pl_mean.copy_(pl_mean.detach())
            ((lengths - pl_mean).square() * 2.0).mean().mul(gain).backward()
        if phase in ("Dmain", "Dboth"):
            with torch.no_grad():
                img, _ = self.run_g(z, update_emas=True)
            F.softplus(self.D(img)).mean().mul(gain).backward()
        if phase in ("Dmain", "Dreg", "Dboth"):
            do_r1 = phase == "Dreg"
            x = real.detach().requires_grad_(do_r1)
            logits = self.D(x)
            loss = F.softplus(-logits) if phase != "Dreg" else 0
            if do_r1:
                (g,) = torch.autograd.grad([logits.sum()], [x], create_graph=True)
                loss = loss + g.square().sum([1, 2, 3]) * (self.r1_gamma / 2)
            loss.mean().mul(gain).backward()

    def step(self, reals):
        for name, mod, opt, interval in self.phases:
            if self.batch_idx % interval != 0:
                continue
            z = torch.randn(self.batch, self.G.z_dim)
            mod.requires_grad_(True)
            opt.zero_grad(set_to_none=True)
            self.accumulate(name, reals, z, interval)
            mod.requires_grad_(False)
            params = [p for p in mod.parameters() if p.grad is not None]
            if params:
                flat = torch.cat([p.grad.flatten() for p in params])
                torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
                for p, gr in zip(params, flat.split([p.numel() for p in params])):
                    p.grad = gr.reshape(p.shape)
            opt.step()
        self.cur_nimg += self.batch
        ema_nimg = min(self.ema_kimg * 1000, self.cur_nimg * 0.05)
        beta = 0.5 ** (self.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                pe.copy_(p.lerp(pe, beta))
            for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
                be.copy_(b)
        self.batch_idx += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--what", default="base,full", help="base (no regularisers), full (lazy R1 + path length)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.RandomState(0)
    reals = torch.from_numpy(rng.randint(0, 256, size=(64, 3, 32, 32)).astype(np.float32) / 127.5 - 1)
    print(f"| PyTorch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}, {a.threads} threads), "
          f"training 32x32, cbase 1024, cmax 64, batch {a.batch} | sec/kimg |")
    print("|---|---|")
    for what in a.what.split(","):
        reg = {"base": False, "full": True}[what]
        g = Generator(256, 32, 3, 1024, 64, 4)
        d = Discriminator(32, 3, 1024, 64)
        t = Trainer(g, d, a.batch, reg, r1_gamma=0.02, ema_kimg=a.batch * 10 / 32)

        def batch_of_reals(i):
            idx = [(i * a.batch + k) % reals.shape[0] for k in range(a.batch)]
            return reals[idx]

        for i in range(a.warmup):
            t.step(batch_of_reals(i))
        start = time.perf_counter()
        for i in range(a.steps):
            t.step(batch_of_reals(i))
        spk = (time.perf_counter() - start) / (a.steps * a.batch) * 1000
        name = "full recipe: lazy R1 + path length" if reg else "no regularisers (baseline)"
        print(f"| torch {name} | {spk:.1f} |", flush=True)


if __name__ == "__main__":
    main()
