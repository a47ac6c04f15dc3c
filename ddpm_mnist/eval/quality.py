r"""Metrics that a low FID of non-digits cannot fool: k-NN precision and recall, KID, class balance.

All act on features (N, D) of one extractor (``mnist-cnn`` by default, see :mod:`.metrics`):

* :func:`precision_recall`: Kynkäänniemi et al. (2019), "Improved precision and recall metric
  for assessing generative models", section 3: each set's manifold is the union of balls around
  its points, of radius the distance to the point's ``k``-th nearest neighbour in its own set.
  *Precision* is the fraction of generated samples inside the real manifold (are they digits?),
  *recall* the fraction of real samples inside the generated one (are all kinds of digits made?).
* :func:`kid`: Bińkowski et al. (2018), "Demystifying MMD GANs", the unbiased estimate of the
  squared MMD with the cubic polynomial kernel :math:`k(x, y) = (x^\top y / D + 1)^3`, averaged
  over random subsets, with its standard deviation over them. Unlike FID it has no bias in the
  sample count, so values at different counts compare.
* :func:`class_kl`: the Kullback-Leibler divergence of the classifier's predicted-class histogram
  from the uniform distribution over the classes (0 for perfectly balanced samples, log 10 = 2.30
  for a one-class collapse).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _kth_neighbour_radius(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance (N,) of each row of ``x`` (N, D) to its ``k``-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} points to measure a k-NN radius, got {len(x)}")
    out = []
    for i in range(0, len(x), chunk):
        d = torch.cdist(x[i : i + chunk], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # the 1st smallest is the point itself (distance 0)
    return torch.cat(out)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Whether each of ``points`` (M, D) lies in some ball (``centres`` (N, D), ``radii`` (N,))."""
    out = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i : i + chunk], centres)
        out.append((d <= radii[None, :]).any(1))
    return torch.cat(out)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019) of ``fake`` features (M, D) against
    ``real`` features (N, D), both in [0, 1]; the paper uses equal-size sets (N = M) and k = 3."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"need features (N, D) and (M, D) of one dimension, got {tuple(r.shape)} and {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise ValueError("the generated features hold NaN or infinity")
    precision = _inside(f, r, _kth_neighbour_radius(r, k)).double().mean().item()
    recall = _inside(r, f, _kth_neighbour_radius(f, k)).double().mean().item()
    return precision, recall


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    r"""Unbiased squared MMD between samples ``x`` (m, D) and ``y`` (n, D) with the kernel
    :math:`(x^\top y / D + 1)^3` (Bińkowski et al. 2018, eq. 3 with their KID kernel)."""
    d = x.shape[1]
    kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID (mean, standard deviation) of ``fake`` (M, D) against ``real`` (N, D) features: the
    unbiased polynomial-kernel MMD² over ``subsets`` random pairs of subsets of
    ``min(subset_size, M, N)`` points each (drawn without replacement, seeded). Unbiased: about 0
    for two samples of one distribution, and it may dip below 0."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    size = min(subset_size, len(r), len(f))
    if size < 2:
        raise ValueError(f"KID needs at least 2 points in each set, got {len(r)} and {len(f)}")
    g = torch.Generator().manual_seed(seed)
    values = [polynomial_mmd2(r[torch.randperm(len(r), generator=g)[:size]], f[torch.randperm(len(f), generator=g)[:size]])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if subsets > 1 else float("nan")


def class_kl(histogram: Sequence[int]) -> float:
    """KL divergence (nats) of the normalised class ``histogram`` (counts per class) from the uniform
    distribution over its classes: :math:`\\sum_c p_c \\log(C p_c)`, in [0, log C]."""
    h = np.asarray(histogram, dtype=np.float64)
    if h.ndim != 1 or len(h) < 2 or (h < 0).any() or h.sum() <= 0:
        raise ValueError(f"need a histogram of non-negative counts over at least two classes, got {histogram}")
    p = h / h.sum()
    nz = p > 0
    return float((p[nz] * np.log(len(p) * p[nz])).sum())
