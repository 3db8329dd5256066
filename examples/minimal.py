"""The fewest readable lines that reach 99.5% on MNIST: python examples/minimal.py [MNIST_DIR]."""
import gzip
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

CACHE = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "firstnet"  # firstnet's download cache
FOLDER = Path((sys.argv[1:] or [os.environ.get("FIRSTNET_DATA_DIR", CACHE)])[0]).expanduser()
SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
FAST = torch.channels_last  # the memory layout oneDNN's convolutions prefer
BF16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()  # else slow


def load(name, header_bytes):  # an IDX file, raw or gzip: a header, then uint8 values
    raw = (next(FOLDER.glob(name + "*"), None) or sys.exit(f"no {name} in {FOLDER}")).read_bytes()
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=header_bytes).copy())


def conv(c_in, c_out, pool):  # pool before batch norm and ReLU: they then see 4x fewer pixels
    pooling = [nn.MaxPool2d(2)] if pool else []
    return [nn.Conv2d(c_in, c_out, 3, padding=1), *pooling, nn.BatchNorm2d(c_out), nn.ReLU()]


def images(raw):  # uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1]
    return (raw.unsqueeze(1).float() / 255).contiguous(memory_format=FAST)


x_train = load("train-images-idx3-ubyte", 16).view(-1, 28, 28)
y_train = load("train-labels-idx1-ubyte", 8).long()
x_test = load("t10k-images-idx3-ubyte", 16).view(-1, 28, 28)
y_test = load("t10k-labels-idx1-ubyte", 8).long()
torch.manual_seed(0)
layers = conv(1, 16, 1) + conv(16, 32, 0) + conv(32, 32, 1) + conv(32, 64, 0) + conv(64, 64, 1)
model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 3 * 3, 10)).to(memory_format=FAST)
epochs, batch = 4, 250
optimizer = torch.optim.SGD(model.parameters(), 0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.2, epochs * 60000 // batch)
for _ in range(epochs):
    for index in torch.randperm(60000).view(-1, batch):
        shift = torch.randint(-2, 3, (2,)).tolist()  # augment: move the batch by up to 2 pixels
        with torch.autocast("cpu", torch.bfloat16, enabled=BF16):  # bf16 where AMX / AVX-512 run it
            logits = model(torch.roll(images(x_train[index]), shift, dims=(2, 3)))
        loss = nn.functional.cross_entropy(logits.float(), y_train[index], label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
model.eval()
with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=BF16):  # TTA: 1-pixel shifts
    x = images(x_test)
    probabilities = sum(model(torch.roll(x, s, dims=(2, 3))).float().softmax(1) for s in SHIFTS)
accuracy = (probabilities.argmax(1) == y_test).float().mean().item()
print(f"test accuracy: {100 * accuracy:.2f}%")
sys.exit(0 if accuracy >= 0.995 else 1)
