r"""Fréchet distance and the feature spaces it is computed in.

:math:`d^2 = \lVert\mu_1-\mu_2\rVert^2 + \operatorname{Tr}\big(\Sigma_1+\Sigma_2-2(\Sigma_1\Sigma_2)^{1/2}\big)`
(the report's section 3) between Gaussians fitted to features of two image sets.

Two feature extractors (an FID is only comparable with another computed in the same one,
on the same number of samples):

``mnist-cnn`` (default, offline)
    the 128-d penultimate layer of the project's MNIST classifier
    (:mod:`ddpm_mnist.eval.classifier`), whose weights ship with the package;
``fashion-cnn``
    the same network trained on Fashion-MNIST (the "new data set" chapter);
``inception``
    pytorch-fid's FID InceptionV3 (2048-d pool features; grayscale repeated to RGB, resized
    to 299x299 bilinearly as pytorch-fid does). Its weights
    (``pt_inception-2015-12-05-6726825d.pth``) are read from ``$DDPM_INCEPTION_WEIGHTS``, else
    from the torch hub cache (``<torch.hub.get_dir()>/checkpoints/``), else downloaded there;
    offline and absent, :class:`InceptionWeightsMissing` says where to put the file.

Reference statistics of the train and test sets (MNIST, or Fashion-MNIST with
``dataset="fashion-mnist"``) are cached on disk per extractor and weights hash (see
:func:`reference_stats`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core.ranges import to_uint8
from ..data import cache_dir, load_mnist_uint8
from ..io import atomic_write
from . import classifier, quality

ENV_INCEPTION = "DDPM_INCEPTION_WEIGHTS"
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


class InceptionWeightsMissing(FileNotFoundError):
    """The FID InceptionV3 weights are not on disk and could not be downloaded."""


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    r"""Squared Fréchet distance between :math:`N(\mu_1, \Sigma_1)` and :math:`N(\mu_2, \Sigma_2)`.

    Shapes (D,), (D, D), (D,), (D, D). Computes :math:`\operatorname{Tr}(\Sigma_1\Sigma_2)^{1/2}` as
    the sum of square roots of the eigenvalues of the symmetric PSD matrix
    :math:`\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}`, which has the same spectrum: real arithmetic
    throughout, and singular covariances are fine (negative round-off eigenvalues are clipped).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean, 0.0))


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), float64."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need features of shape (N >= 2, D), got {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


@dataclass(frozen=True)
class Extractor:
    """A feature space: ``features(uint8 images (N, 1, 28, 28)) -> float32 array (N, dim)``."""

    name: str
    dim: int
    weights_sha256: str
    features: Callable[[torch.Tensor], np.ndarray]


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([fn(images[i : i + batch_size]).float().cpu() for i in range(0, len(images), batch_size)]).numpy()


@lru_cache(maxsize=2)
def classifier_extractor(dataset: str = "mnist") -> Extractor:
    """The penultimate layer of the project's classifier of ``dataset`` (``mnist-cnn`` / ``fashion-cnn``)."""
    # a channels-last copy: about 30% faster on CPU than the classifier used for predictions
    model = copy.deepcopy(classifier.load_classifier(dataset=dataset)).to(memory_format=torch.channels_last)

    def features(x: torch.Tensor) -> torch.Tensor:
        return model.features(classifier.to_unit(x).contiguous(memory_format=torch.channels_last))

    name = "mnist-cnn" if dataset == "mnist" else "fashion-cnn"
    return Extractor(name, classifier.FEATURE_DIM, classifier.metadata(dataset)["sha256"], lambda images: _batched(features, images, 500))


def inception_weights_path() -> Path | None:
    """Where the FID Inception weights are: ``$DDPM_INCEPTION_WEIGHTS``, else the torch hub
    cache file if it exists, else None."""
    env = os.environ.get(ENV_INCEPTION)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise InceptionWeightsMissing(f"{ENV_INCEPTION}={env} is not a file; point it at {INCEPTION_FILE}")
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return cached if cached.is_file() else None


@contextlib.contextmanager
def _hub_dir_serving(weights: Path):
    """Temporarily point the torch hub cache at a folder whose ``checkpoints/`` holds ``weights``
    under pytorch-fid's file name, so pytorch-fid loads it instead of downloading."""
    expected = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if weights.resolve() == expected.resolve():
        yield
        return
    previous = torch.hub._hub_dir
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "checkpoints").mkdir()
        (Path(tmp) / "checkpoints" / INCEPTION_FILE).symlink_to(weights.resolve())
        torch.hub.set_dir(tmp)
        try:
            yield
        finally:
            torch.hub._hub_dir = previous


def load_inception(device: str | torch.device = "cpu", download: bool = True) -> torch.nn.Module:
    """pytorch-fid's FID InceptionV3 (pool3 block), in eval mode. Without a weights file on
    disk it tries pytorch-fid's download (unless ``download=False``)."""
    from pytorch_fid.inception import InceptionV3

    path = inception_weights_path()
    if path is None:
        try:
            if not download:
                raise FileNotFoundError(INCEPTION_FILE)
            model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
        except Exception as exc:
            target = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
            raise InceptionWeightsMissing(
                f"the FID InceptionV3 weights are not on this machine and could not be downloaded ({type(exc).__name__}). "
                f"Put {INCEPTION_FILE} (from pytorch-fid's releases) at {target}, or set {ENV_INCEPTION} to its path; "
                "or use the offline extractor features='mnist-cnn'."
            ) from None
    else:
        with _hub_dir_serving(path):
            model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    return model.to(device).eval()


def untrained_fid_inception() -> torch.nn.Module:
    """pytorch-fid's FID InceptionV3 architecture with random weights (no download): its
    ``state_dict()`` has the keys and shapes of the real weights file. For tests and timing."""
    from pytorch_fid import inception as fi

    net = fi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = fi.FIDInceptionA(192, 32), fi.FIDInceptionA(256, 64), fi.FIDInceptionA(288, 64)
    net.Mixed_6b, net.Mixed_6c = fi.FIDInceptionC(768, 128), fi.FIDInceptionC(768, 160)
    net.Mixed_6d, net.Mixed_6e = fi.FIDInceptionC(768, 160), fi.FIDInceptionC(768, 192)
    net.Mixed_7b, net.Mixed_7c = fi.FIDInceptionE_1(1280), fi.FIDInceptionE_2(2048)
    return net


@lru_cache(maxsize=2)
def inception_extractor(device: str = "cpu") -> Extractor:
    model = load_inception(device)
    path = inception_weights_path() or Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE

    def features(images: torch.Tensor) -> torch.Tensor:
        x = classifier.to_unit(images).to(device).repeat(1, 3, 1, 1)
        return model(x)[0].flatten(1)

    return Extractor("inception", 2048, classifier.file_sha256(path), lambda images: _batched(features, images, 200))


EXTRACTORS = ("mnist-cnn", "fashion-cnn", "inception")


def get_extractor(name: str, device: str = "cpu") -> Extractor:
    """The feature extractor ``name`` (``mnist-cnn``, ``fashion-cnn`` or ``inception``)."""
    if name == "mnist-cnn":
        return classifier_extractor("mnist")
    if name == "fashion-cnn":
        return classifier_extractor("fashion-mnist")
    if name == "inception":
        return inception_extractor(str(device))
    raise ValueError(f"unknown feature extractor {name!r}; valid extractors: {', '.join(EXTRACTORS)}")


REFERENCES = ("train", "test")


def reference_stats(reference: str = "test", features: str = "mnist-cnn", device: str = "cpu", dataset: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Feature mean (D,) and covariance (D, D) of the whole ``reference`` split of ``dataset``
    (:func:`reference_features`, cached)."""
    return feature_stats(reference_features(reference, features, device, dataset))


def reference_features(reference: str = "test", features: str = "mnist-cnn", device: str = "cpu", dataset: str = "mnist") -> np.ndarray:
    """Features (N, D) float32 of the whole ``reference`` split of ``dataset``, cached on disk under
    ``<cache_dir>/fid_stats/[<dataset>-]<extractor>-<weights sha256[:16]>-<split>-features.npy``
    (written atomically; a corrupt file is recomputed)."""
    if reference not in REFERENCES:
        raise ValueError(f"unknown FID reference {reference!r}; valid references: {', '.join(REFERENCES)}")
    ex = get_extractor(features, device)
    prefix = "" if dataset == "mnist" else f"{dataset}-"
    path = cache_dir() / "fid_stats" / f"{prefix}{ex.name}-{ex.weights_sha256[:16]}-{reference}-features.npy"
    if path.exists():
        try:
            return np.load(path)
        except Exception:
            path.unlink(missing_ok=True)  # corrupt cache: recompute
    images, _ = load_mnist_uint8(train=reference == "train", dataset=dataset)
    feats = ex.features(images).astype(np.float32)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, feats)

    atomic_write(path, write)
    return feats


def reference_subset(reference_feats: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` rows of ``reference_feats`` drawn without replacement (fixed by ``seed``): the real set of
    the size of the generated one that precision and recall compare with."""
    if n > len(reference_feats):
        raise ValueError(f"asked for {n} reference points but the reference has {len(reference_feats)}")
    idx = np.random.default_rng(seed).permutation(len(reference_feats))[:n]
    return reference_feats[np.sort(idx)]


def score(
    samples: torch.Tensor | np.ndarray,
    reference: str = "test",
    features: str = "mnist-cnn",
    value_range: str | None = None,
    device: str = "cpu",
    dataset: str = "mnist",
    k: int = 3,
) -> dict[str, float]:
    """Every feature-space metric of ``samples`` against the ``reference`` split, from one pass of
    the extractor: ``fid`` (against the whole split), ``precision`` and ``recall`` (k-NN, against
    an equal-size subset of the split, :func:`reference_subset`), ``kid`` and ``kid_std``
    (:func:`.quality.kid`, against the whole split). Samples with non-finite features (blank or
    NaN images of a failed sampler give finite ones) raise ``ValueError``."""
    x = as_uint8(samples, value_range)
    ex = get_extractor(features, device)
    fake = ex.features(x).astype(np.float64)
    real = reference_features(reference, features, device, dataset)
    mu_r, sigma_r = feature_stats(real)  # the reference statistics, from the features already loaded
    precision, recall = quality.precision_recall(reference_subset(real, len(fake)), fake, k=k)
    kid_mean, kid_std = quality.kid(real, fake)
    return {"fid": frechet_distance(*feature_stats(fake), mu_r, sigma_r), "precision": precision, "recall": recall,
            "kid": kid_mean, "kid_std": kid_std}


def as_uint8(samples: torch.Tensor | np.ndarray, value_range: str | None = None) -> torch.Tensor:
    """Samples as uint8 (N, 1, 28, 28). uint8 input is taken as is; float input needs its ``value_range``."""
    x = torch.as_tensor(samples)
    if x.dtype != torch.uint8:
        if value_range is None:
            raise ValueError("float samples need value_range ('[-1,1]', '[0,1]' or '[0,255]') to be converted to pixels")
        x = to_uint8(x, value_range)
    return x[:, None] if x.dim() == 3 else x


def fid(
    samples: torch.Tensor | np.ndarray,
    reference: str = "test",
    features: str = "mnist-cnn",
    n: int | None = None,
    value_range: str | None = None,
    device: str = "cpu",
    dataset: str = "mnist",
) -> float:
    """FID of ``samples`` (uint8 (N, 28, 28) / (N, 1, 28, 28), or float in ``value_range``)
    against the whole ``reference`` split of ``dataset``, in the ``features`` space, using the first
    ``n`` samples (default: all). Compare FIDs only at equal extractor and ``n``."""
    x = as_uint8(samples, value_range)
    if n is not None:
        if n > len(x):
            raise ValueError(f"asked to score n={n} samples but only {len(x)} were given")
        x = x[:n]
    mu_r, sigma_r = reference_stats(reference, features, device, dataset)
    mu, sigma = feature_stats(get_extractor(features, device).features(x))
    return frechet_distance(mu, sigma, mu_r, sigma_r)


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """uint8 images blurred by a Gaussian of standard deviation ``sigma`` pixels."""
    from torchvision.transforms.functional import gaussian_blur

    return gaussian_blur(images.float(), kernel_size=9, sigma=sigma).round().clamp(0, 255).to(torch.uint8)


def noised(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """uint8 images plus Gaussian pixel noise of standard deviation ``std`` (in 0-255 units)."""
    g = torch.Generator().manual_seed(seed)
    return (images.float() + std * torch.randn(images.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)


def sanity_fids(n: int = 2000, features: str = "mnist-cnn", reference: str = "test") -> pd.DataFrame:
    """FIDs of known image sets against the ``reference`` split, to calibrate the scale:
    the reference itself, ``n`` images of the other split, ``n`` reference images blurred or
    noised in increasing steps, and ``n`` images of uniform noise. Columns: ``images``,
    ``kind``, ``level``, ``fid``."""
    ref, _ = load_mnist_uint8(train=reference == "train")
    other, _ = load_mnist_uint8(train=reference != "train")
    subset = ref[:n]
    rows = [("the reference set itself", "identity", 0.0, ref), (f"{n} images of the other split", "other split", 0.0, other[:n])]
    rows += [(f"blur, sigma = {s} px", "blur", s, blurred(subset, s)) for s in (0.5, 1.0, 1.5, 2.0)]
    rows += [(f"pixel noise, std = {s}/255", "noise", s, noised(subset, s)) for s in (16, 48, 96, 160)]
    uniform = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    rows.append(("uniform noise images", "uniform", 0.0, uniform))
    return pd.DataFrame(
        [{"images": name, "kind": kind, "level": level, "fid": fid(x, reference=reference, features=features)} for name, kind, level, x in rows]
    )


def quality_row(images: torch.Tensor, reference: str = "test", features: str = "mnist-cnn") -> dict[str, float]:
    """Every metric of one uint8 image set (N, 1, 28, 28): :func:`score`'s, the class KL from uniform
    and the classifier's mean confidence (:func:`.classifier.digit_summary`)."""
    digits = classifier.digit_summary(images)
    return {**score(images, reference=reference, features=features), "class_kl": quality.class_kl(digits["histogram"]),
            "confidence": digits["mean_confidence"]}


def sanity_quality(n: int = 1000, reference: str = "test", features: str = "mnist-cnn") -> pd.DataFrame:
    """Every metric on ``n``-image sets with known answers, against the ``reference`` split: real
    digits of the other split (the ceiling of precision and recall), blurred and noised digits,
    a one-class collapse (only "1"s: recall near 0, class KL log 10), digits 0-4 only (recall
    about a half, class KL log 2) and uniform noise. Columns: ``images``, ``fid``, ``precision``,
    ``recall``, ``kid``, ``kid_std``, ``class_kl``, ``confidence``."""
    other, labels = load_mnist_uint8(train=reference != "train")
    real = other[:n]
    rows = [(f"{n:,} real digits of the other split", real)]
    rows += [(f"blur, sigma = {s} px", blurred(real, s)) for s in (1.0, 2.0)]
    rows += [(f"pixel noise, std = {s}/255", noised(real, s)) for s in (48, 96)]
    rows.append(('one class: only "1"s', other[labels == 1][:n]))
    rows.append(("digits 0-4 only", other[labels < 5][:n]))
    uniform = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    rows.append(("uniform noise images", uniform))
    return pd.DataFrame([{"images": name, **quality_row(x, reference, features)} for name, x in rows])
