"""The fewest readable lines that reach 99.5% on MNIST: python examples/minimal.py [MNIST_DIR]."""

import gzip
import os
import sys
from pathlib import Path

import torch
from torch import nn

CACHE = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "firstnet"  # firstnet's download cache
FOLDER = Path((sys.argv[1:] or [os.environ.get("FIRSTNET_DATA_DIR", CACHE)])[0]).expanduser()
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
BF16 = DEVICE == "cuda" or torch.cpu.get_capabilities().get("avx512_bf16", False)  # else slow
SHIFTS, STEPS, POOL = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)], 468, nn.MaxPool2d(2)


def load(name):  # an IDX file, raw or gzip: a header of 16 (images) or 8 (labels) bytes, then uint8
    raw = (next(FOLDER.glob(name + "*"), None) or sys.exit(f"no {name}* in {FOLDER}")).read_bytes()
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    values = torch.frombuffer(bytearray(raw), dtype=torch.uint8)[16 if "images" in name else 8 :]
    return (values.view(-1, 28, 28) if "images" in name else values.long()).to(DEVICE)


class Conv(nn.Linear):  # a 3x3 convolution keeping its weight as a matrix (out, 3 * 3 * in)
    def forward(self, x):  # Muon steps matrices; conv2d sees a channels-last (out, in, 3, 3) view
        return torch.conv2d(x, self.weight.unflatten(1, (3, 3, -1)).movedim(3, 1), padding=1)


def conv(a, b, *pool):  # pool before batch norm and ReLU: they then see 4x fewer pixels
    return [Conv(9 * a, b, bias=False), *pool, nn.BatchNorm2d(b, affine=False), nn.ReLU()]


def images(x, shift):  # uint8 (N, 28, 28) -> shifted float (N, 1, 28, 28) in [0, 1], channels-last
    return torch.roll(x[:, None] / 255, shift, (2, 3)).contiguous(memory_format=torch.channels_last)


x, y, x_test, y_test = map(load, ["train-images", "train-labels", "t10k-images", "t10k-labels"])
torch.manual_seed(0)
layers = conv(1, 16, POOL) + conv(16, 32) + conv(32, 32, POOL) + conv(32, 64) + conv(64, 64, POOL)
model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 3 * 3, 10, bias=False)).to(DEVICE)
muon = torch.optim.Muon(model.parameters(), 0.05, weight_decay=5e-4)  # all of them matrices
schedule = torch.optim.lr_scheduler.OneCycleLR(muon, 0.05, total_steps=STEPS)  # momentum too
for index in torch.rand(2, 60000, device=DEVICE).argsort(1).flatten()[: STEPS * 256].view(-1, 256):
    with torch.autocast(DEVICE, torch.bfloat16, enabled=BF16):  # bf16 where the hardware has it
        logits = model(images(x[index], torch.randint(-2, 3, (2,)).tolist()))  # moved <= 2 pixels
    loss = nn.functional.cross_entropy(logits.float(), y[index], label_smoothing=0.1)
    for step in (loss.backward, muon.step, schedule.step, muon.zero_grad):
        step()
with torch.no_grad(), torch.autocast(DEVICE, torch.bfloat16, enabled=BF16):  # TTA: 1-pixel shifts
    votes = sum(model.eval()(images(x_test, s)).float().softmax(1) for s in SHIFTS).argmax(1)
print(f"test accuracy: {100 * (accuracy := (votes == y_test).float().mean().item()):.2f}%")
sys.exit(0 if accuracy >= 0.995 else 1)
