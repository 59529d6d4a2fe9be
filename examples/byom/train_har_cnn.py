#!/usr/bin/python3
"""An outside model for Tern's "Bring your own model" walk-through (README.md).

Stands in for the user's own PyTorch work: takes a labelled data set as NumPy arrays, trains a small CNN on some
subjects, and exports it to ONNX. Tern then imports the ONNX file and the arrays, fine-tunes the model for ternary
weights and proves it on the board.

    /usr/bin/python3 examples/byom/train_har_cnn.py --data DIR --out OUT

DIR is a Tern data set folder (docs/dataset.md), e.g. the spectrogram form of sp-sw-har
(`tern data import sp-sw-har ... --out spsw`, then DIR = spsw/spectrogram). It is read with NumPy and written to
OUT as the arrays a PyTorch user keeps: train.npz and test.npz (x in NCHW float32, y int64 class indices, subjects
int64), split by subject (the last --test-subjects subjects are the test set), and OUT/har_cnn.onnx.

Needs Debian's python3-torch (1.13) and python3-numpy; deterministic for a given --seed on one machine.
"""
import argparse
import json
import os

import numpy as np
import torch
from torch import nn


def load_tern_folder(folder):
    with open(os.path.join(folder, "dataset.json")) as f:
        meta = json.load(f)
    h, w, c = meta["shape"]
    n = meta["count"]
    x = np.fromfile(os.path.join(folder, "samples.f32"), dtype="<f4").reshape(n, h, w, c)
    y = np.fromfile(os.path.join(folder, "labels.u8"), dtype=np.uint8).astype(np.int64)
    s = np.fromfile(os.path.join(folder, "subjects.u16"), dtype="<u2").astype(np.int64)
    # PyTorch holds images as NCHW.
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y, s, meta["classes"]


class HarCnn(nn.Module):
    """Depthwise-separable CNN for 16x16 spectrograms of three accelerometer axes."""

    def __init__(self, channels, classes):
        super().__init__()

        def block(cin, cout, stride):
            return [
                nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.ReLU(),
                nn.Conv2d(cin, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
            ]

        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            *block(16, 32, 2),
            *block(32, 48, 2),
            *block(48, 64, 1),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a Tern data set folder")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--test-subjects", type=int, default=5, help="subjects held out for testing (the last ones)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)

    x, y, s, classes = load_tern_folder(args.data)
    subjects = np.unique(s)
    test_subjects = subjects[-args.test_subjects:]
    test = np.isin(s, test_subjects)
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "train.npz"), x=x[~test], y=y[~test], subjects=s[~test])
    np.savez(os.path.join(args.out, "test.npz"), x=x[test], y=y[test], subjects=s[test])

    xt, yt = x[~test], y[~test]
    model = HarCnn(x.shape[1], len(classes))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    # Class weights against the imbalance of the activities (transitions are short).
    counts = np.bincount(yt, minlength=len(classes)).astype(np.float32)
    loss_fn = nn.CrossEntropyLoss(weight=torch.from_numpy(counts.sum() / (len(classes) * np.maximum(counts, 1))))
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(xt))
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(xt[idx])), torch.from_numpy(yt[idx]))
            loss.backward()
            opt.step()
        sched.step()
    train_acc = accuracy(model, xt, yt)
    test_acc = accuracy(model, x[test], y[test])

    model.eval()
    path = os.path.join(args.out, "har_cnn.onnx")
    torch.onnx.export(model, torch.zeros(1, *x.shape[1:]), path, opset_version=13,
                      input_names=["spectrogram"], output_names=["logits"])
    print(json.dumps({"onnx": path, "classes": classes, "train_accuracy": train_acc, "test_accuracy": test_acc,
                      "test_subjects": [int(v) for v in test_subjects], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
