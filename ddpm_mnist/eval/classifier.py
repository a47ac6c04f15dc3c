"""A small MNIST classifier: the offline feature extractor for FID, and a digit judge.

``MnistCNN`` maps uint8-derived images in [0, 1], shape (B, 1, 28, 28), to 10 logits; its
penultimate layer (128 features after ReLU) is the ``mnist-cnn`` feature space of
:mod:`ddpm_mnist.eval.metrics`. Its weights ship with the package (``weights/mnist_cnn.pt``, with
a JSON of metadata: test accuracy, sha256, training settings) and are rebuilt,
deterministically, by ``ddpm-mnist train-classifier``.

The same network trained on Fashion-MNIST (``dataset="fashion-mnist"``, ``weights/fashion_cnn.pt``)
is the ``fashion-cnn`` feature space and the judge of the "new data set" chapter.
"""

from __future__ import annotations

import hashlib
import json
import time
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ..data import check_dataset, load_mnist
from ..io import save_torch, write_json

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHT_FILES = {"mnist": "mnist_cnn.pt", "fashion-mnist": "fashion_cnn.pt"}
WEIGHTS = WEIGHTS_DIR / WEIGHT_FILES["mnist"]
METADATA = WEIGHTS.with_suffix(".json")


def weights_path(dataset: str = "mnist") -> Path:
    """The shipped classifier weights of ``dataset`` (their metadata sits beside, as ``.json``)."""
    return WEIGHTS_DIR / WEIGHT_FILES[check_dataset(dataset)]
FEATURE_DIM = 128


class MnistCNN(nn.Module):
    """conv(32)@28 -> pool -> conv(64) x2 @14 -> pool -> conv(128)@7 -> global average -> fc(128) -> fc(10)."""

    def __init__(self):
        super().__init__()

        def conv(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))

        self.body = nn.Sequential(
            conv(1, 32), nn.MaxPool2d(2), conv(32, 64), conv(64, 64), nn.MaxPool2d(2), conv(64, 128),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(128, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [0, 1] -> (B, 128) penultimate activations."""
        return F.relu(self.fc(self.body(x - 0.1307)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [0, 1] -> (B, 10) logits."""
        return self.head(F.dropout(self.features(x), 0.2, self.training))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def metadata(dataset: str = "mnist") -> dict:
    """The shipped classifier's metadata (accuracy, sha256, how it was trained)."""
    path = weights_path(dataset).with_suffix(".json")
    if not path.exists():
        raise FileNotFoundError(f"classifier metadata missing at {path}; run `ddpm-mnist train-classifier --dataset {dataset}`")
    return json.loads(path.read_text())


@lru_cache(maxsize=4)
def load_classifier(path: str | None = None, dataset: str = "mnist") -> MnistCNN:
    """The classifier with the shipped weights of ``dataset`` (or those at ``path``), in eval
    mode on the CPU. The shipped file's sha256 is checked against its metadata."""
    p = Path(path) if path else weights_path(dataset)
    if not p.exists():
        raise FileNotFoundError(f"{dataset} classifier weights not found at {p}; run `ddpm-mnist train-classifier --dataset {dataset}`")
    if path is None:
        expected = metadata(dataset)["sha256"]
        if file_sha256(p) != expected:
            raise RuntimeError(f"{p} does not match the sha256 in its metadata; reinstall or rerun `ddpm-mnist train-classifier`")
    model = MnistCNN()
    model.load_state_dict(torch.load(p, map_location="cpu", weights_only=True))
    return model.eval()


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) or (N, 1, 28, 28) -> float (N, 1, 28, 28) in [0, 1]."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}; convert with ddpm_mnist.core.ranges.to_uint8")
    if images.dim() == 3:
        images = images[:, None]
    if images.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(images.shape)}")
    return images.float() / 255.0


@torch.no_grad()
def predict(images: torch.Tensor, batch_size: int = 2000, dataset: str = "mnist") -> torch.Tensor:
    """Class probabilities (N, 10) of uint8 images, by the classifier of ``dataset``."""
    model = load_classifier(dataset=dataset)
    x = to_unit(images)
    return torch.cat([model(x[i : i + batch_size]).softmax(1) for i in range(0, len(x), batch_size)])


def accuracy_per_class(images: torch.Tensor, labels: torch.Tensor, dataset: str = "mnist") -> torch.Tensor:
    """Shape (10,): for each class c, the fraction of the uint8 ``images`` asked for as c
    (``labels``, shape (N,)) that the classifier of ``dataset`` reads as c; NaN for a class
    never asked for."""
    return _per_class(predict(images, dataset=dataset).argmax(1), labels.cpu())


def _per_class(read: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.tensor([(read[labels == c] == c).float().mean().item() if (labels == c).any() else float("nan") for c in range(10)])


def digit_summary(images: torch.Tensor, labels: torch.Tensor | None = None, dataset: str = "mnist") -> dict:
    """How a sample set looks to the classifier of ``dataset``: ``histogram`` (counts of the
    predicted classes 0-9), ``mean_confidence`` (mean top probability) and ``classes_covered``;
    with the ``labels`` the samples were asked for (class-conditional models), also
    ``label_accuracy``, the fraction classified as asked, and ``label_accuracy_per_class``
    (:func:`accuracy_per_class`)."""
    p = predict(images, dataset=dataset)
    conf, label = p.max(1)
    hist = torch.bincount(label, minlength=10)
    out = {"histogram": hist.tolist(), "mean_confidence": conf.mean().item(), "classes_covered": int((hist > 0).sum())}
    if labels is not None:
        out["label_accuracy"] = (label == labels.cpu()).float().mean().item()
        out["label_accuracy_per_class"] = _per_class(label, labels.cpu()).tolist()
    return out


def train_classifier(
    epochs: int = 6, batch_size: int = 128, lr: float = 2e-3, seed: int = 0, out: str | Path | None = None, progress: bool = True,
    dataset: str = "mnist",
) -> dict:
    """Train :class:`MnistCNN` deterministically on the training set of ``dataset`` and write its
    weights and metadata (atomically) to ``out`` (default: the shipped file). Returns the metadata."""
    out = weights_path(dataset) if out is None else out
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    x_train, y_train = load_mnist(train=True, value_range="[0,1]", with_labels=True, dataset=dataset)
    x_test, y_test = load_mnist(train=False, value_range="[0,1]", with_labels=True, dataset=dataset)
    model = MnistCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(x_train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    bar = tqdm(total=steps, desc="train classifier", disable=not progress)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        for i in range(len(x_train) // batch_size):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            x = _shift(x_train[idx], gen)
            loss = F.cross_entropy(model(x), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    with torch.no_grad():
        acc = (torch.cat([model(x_test[i : i + 2000]).argmax(1) for i in range(0, len(x_test), 2000)]) == y_test).float().mean().item()
    out = Path(out)
    save_torch(out, model.state_dict())
    meta = {
        "dataset": dataset,
        "test_accuracy": acc,
        "sha256": file_sha256(out),
        "feature_dim": FEATURE_DIM,
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "augmentation": "random shifts of up to 2 pixels",
                     "wall_time_s": round(time.perf_counter() - start, 1), "torch": torch.__version__},
    }
    write_json(out.with_suffix(".json"), meta)
    torch.use_deterministic_algorithms(False)
    return meta


def _shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Translate each image by a random integer offset in [-max_shift, max_shift]^2 (zero fill)."""
    n = len(x)
    pad = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(28))[:, :, None]
    cols = (dx[:, None] + torch.arange(28))[:, None, :]
    return pad[torch.arange(n)[:, None, None], 0, rows, cols][:, None]
