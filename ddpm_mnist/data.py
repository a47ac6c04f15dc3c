"""MNIST (and Fashion-MNIST) loading.

Images come back as float tensors of shape ``(N, 1, 28, 28)`` in one of the three
ranges the report compares (its section 4.3.7, :mod:`ddpm_mnist.core.ranges`): ``"[0,255]"``,
``"[0,1]"`` or ``"[-1,1]"``.

The data root is chosen in this order: the ``root`` argument, the environment variable
``DDPM_MNIST_DATA``, then a per-user cache directory where torchvision may download.

``dataset="fashion-mnist"`` (the book's "new data set" chapter) reads Fashion-MNIST from
``root``, ``$DDPM_FASHION_MNIST_DATA`` (both in torchvision's layout), the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``, unpacked once into the cache)
or a torchvision download into the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .core.ranges import check_range, normalize

ENV_DATA = "DDPM_MNIST_DATA"
ENV_FASHION_DATA = "DDPM_FASHION_MNIST_DATA"
ENV_CACHE = "DDPM_MNIST_CACHE"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("mnist", "fashion-mnist")
FASHION_CLASSES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")


class DatasetNotFoundError(FileNotFoundError):
    """MNIST is neither on disk nor downloadable."""


def cache_dir() -> Path:
    """Per-user cache directory of the project (``$DDPM_MNIST_CACHE`` or ``~/.cache/ddpm_mnist``)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ddpm_mnist"


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    return name


def _torchvision_dataset(dataset: str, root: Path, train: bool, download: bool):
    import torchvision

    cls = torchvision.datasets.MNIST if dataset == "mnist" else torchvision.datasets.FashionMNIST
    return cls(str(root), train=train, download=download)


def _unpack_debian_fashion(target: Path) -> Path:
    """Unpack the Debian package's four .gz files into ``target/FashionMNIST/raw`` (once, atomically per file)."""
    import gzip
    import shutil

    from .io import atomic_write

    raw = target / "FashionMNIST" / "raw"
    for gz in sorted(DEBIAN_FASHION.glob("*-ubyte.gz")):
        out = raw / gz.name[: -len(".gz")]
        if not out.exists():
            def write(tmp: Path, gz: Path = gz) -> None:
                with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)

            atomic_write(out, write)
    return target


def _candidates(dataset: str, root) -> list[tuple[Path, bool]]:
    """(root, may download) pairs to try, in order."""
    env = ENV_DATA if dataset == "mnist" else ENV_FASHION_DATA
    if root is None and os.environ.get(env):
        root = os.environ[env]
    if root is not None:
        return [(Path(root).expanduser(), False)]
    cache = cache_dir() / "data"
    if dataset == "fashion-mnist" and DEBIAN_FASHION.is_dir():
        return [(_unpack_debian_fashion(cache), False), (cache, True)]
    return [(cache, True)]


def load_mnist_uint8(train: bool = True, root: str | os.PathLike | None = None, dataset: str = "mnist") -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST (or ``dataset="fashion-mnist"``) as ``(images uint8 (N, 1, 28, 28), labels int64 (N,))``.

    ``root`` (or ``$DDPM_MNIST_DATA``, ``$DDPM_FASHION_MNIST_DATA``) must hold ``MNIST/raw``
    (``FashionMNIST/raw``) as torchvision lays it out; without either, the per-user cache
    directory is used and torchvision downloads there.
    """
    check_dataset(dataset)
    split = "train" if train else "test"
    errors = []
    for path, download in _candidates(dataset, root):
        try:
            ds = _torchvision_dataset(dataset, path, train, download)
        except (RuntimeError, OSError) as exc:  # torchvision: "Dataset not found", URLError, ...
            errors.append(f"{path} ({'download attempted' if download else 'no download'}: {exc})")
            continue
        images = ds.data.unsqueeze(1).contiguous()
        return images, ds.targets.long()
    tried = "; ".join(errors)
    if dataset == "mnist":
        how = f"Set {ENV_DATA} to a folder holding MNIST/raw/*-ubyte (for example ../shared/data), "
    else:
        how = (f"Install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), set {ENV_FASHION_DATA} "
               "to a folder holding FashionMNIST/raw/*-ubyte, ")
    raise DatasetNotFoundError(
        f"{dataset} ({split} split) not found. Looked in: {tried}. {how}"
        "pass root=..., or allow network access so torchvision can download it."
    )


def load_mnist(
    train: bool = True,
    value_range: str = "[-1,1]",
    subset: int | None = None,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    with_labels: bool = False,
    dataset: str = "mnist",
):
    """MNIST images as float32 ``(N, 1, 28, 28)`` in ``value_range``.

    ``subset`` keeps a seeded random subset of that many images (the same ``seed`` gives
    the same subset). With ``with_labels`` returns ``(images, labels)``.
    """
    check_range(value_range)
    images, labels = load_mnist_uint8(train, root, dataset)
    if subset is not None:
        if not 0 < subset <= len(images):
            raise ValueError(f"subset must be between 1 and {len(images)}, got {subset}")
        idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:subset]
        images, labels = images[idx], labels[idx]
    x = normalize(images, value_range)
    return (x, labels) if with_labels else x
