"""Figures: sample grids, the noising process, study plots."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from ..io import atomic_write


def grid(images: torch.Tensor | np.ndarray, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """uint8 images (N, 28, 28) or (N, 1, 28, 28) -> one uint8 picture (H, W) with ``nrow`` per row."""
    x = torch.as_tensor(np.asarray(images))
    if x.dtype != torch.uint8:
        raise TypeError(f"grid expects uint8 images, got {x.dtype}")
    x = x[:, None] if x.dim() == 3 else x
    return make_grid(x, nrow=nrow, padding=padding, pad_value=255)[0].numpy()


def save_grid(path: str | os.PathLike, images: torch.Tensor | np.ndarray, nrow: int = 10) -> Path:
    """Write a PNG grid of uint8 images, atomically."""
    picture = torch.from_numpy(grid(images, nrow)).float().div(255)
    return atomic_write(path, lambda tmp: save_image(picture, tmp, format="png"))


def noising_figure(x0: torch.Tensor, schedule_names: Sequence[str], T: int = 10, seed: int = 0):
    """Rows: schedules; columns: x_t for t = 0..T of the same image and the same noise draws
    (the report's figure 1 for every schedule). ``x0``: one image (1, 28, 28) in [-1, 1]."""
    import matplotlib.pyplot as plt

    from ..core import diffusion, schedules

    g = torch.Generator().manual_seed(seed)
    noise = torch.randn((1, *x0.shape), generator=g)
    fig, axes = plt.subplots(len(schedule_names), T + 1, figsize=(1.1 * (T + 1), 1.25 * len(schedule_names)), squeeze=False)
    for row, name in enumerate(schedule_names):
        ab = schedules.alpha_bar(name, T)
        for t in range(T + 1):
            xt = diffusion.q_sample(x0[None], torch.tensor([t]), noise, ab)[0, 0]
            ax = axes[row, t]
            ax.imshow(xt.clamp(-1, 1).numpy(), cmap="gray", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t={t}", fontsize=8)
            if t == 0:
                ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def schedule_curves(schedule_names: Sequence[str], T: int = 1000):
    """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t) against t/T for each schedule."""
    import matplotlib.pyplot as plt

    from ..core import schedules

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    u = np.arange(T + 1) / T
    for name in schedule_names:
        ab = schedules.alpha_bar(name, T).numpy()
        axes[0].plot(u, np.sqrt(ab), label=name)
        axes[1].plot(u, np.sqrt(1 - ab), label=name)
    axes[0].set(xlabel="t / T", ylabel="signal coefficient  sqrt(alpha_bar_t)")
    axes[1].set(xlabel="t / T", ylabel="noise coefficient  sqrt(1 - alpha_bar_t)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def step_curves(curves: dict[str, np.ndarray], ylabel: str = "SNR of x_t per pixel", reference: float | None = 1.0):
    """A per-step quantity on a log scale, one line per curve: ``curves`` maps a label to its
    values at steps t = 1..T (shape (T,), e.g. ``schedules.snr(ab)[1:]``; zeros and NaNs are
    left off the log axis). A dotted line marks ``reference`` (None: no line)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for name, v in curves.items():
        t = np.arange(1, len(v) + 1)
        keep = np.isfinite(v) & (v > 0)
        ax.semilogy(t[keep], v[keep], "o-", ms=3, label=name)
    if reference is not None:
        ax.axhline(reference, color="grey", ls=":", lw=1)
    ax.set(xlabel="step t", ylabel=ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def study_plot(table, title: str, xlabel: str, ours_label: str):
    """FID against the studied value: ours (mean, error bars = std over seeds) on the left
    axis, the report's on the right axis (another feature space, so another scale)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = np.arange(len(table))
    ax.errorbar(x, table["fid_mean"], yerr=table["fid_std"].fillna(0), fmt="o-", color="C0", capsize=3, label="ours")
    ax.set_ylabel(f"FID, ours ({ours_label})", color="C0")
    ax.set_xticks(x, table["value"], rotation=30 if len(table) > 6 else 0, fontsize=8)
    ax.set_xlabel(xlabel)
    if table["report_fid"].notna().any():
        ax2 = ax.twinx()
        ax2.plot(x, table["report_fid"], "s--", color="C1", label="report")
        ax2.set_ylabel("FID, report (InceptionV3)", color="C1")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def sample_grids(samples_by_label: dict[str, np.ndarray], n: int = 100, columns: int = 4, caption: dict[str, str] | None = None):
    """One 10-per-row grid of the first ``n`` uint8 samples per label, side by side."""
    import matplotlib.pyplot as plt

    labels = list(samples_by_label)
    rows = -(-len(labels) // columns)
    cols = min(columns, len(labels))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, label in zip(axes.flat, labels):
        ax.imshow(grid(samples_by_label[label][:n]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(caption.get(label, label) if caption else label, fontsize=9)
    fig.tight_layout()
    return fig


def loss_curves(curves: dict[str, list[list[float]]], title: str = "training loss"):
    """Training loss against optimisation step, one line per label; ``curves[label]`` is a
    result's ``train.loss_curve`` ([[step, mean loss], ...])."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for label, curve in curves.items():
        c = np.asarray(curve)
        if len(c):
            ax.plot(c[:, 0], c[:, 1], label=label)
    ax.set(xlabel="optimisation step", ylabel="loss", title=title, yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def digit_histograms(histograms: dict[str, list[int]]):
    """Bar charts of predicted-digit counts (``classifier.digit_summary``), one per label."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histograms), figsize=(3 * len(histograms), 2.4), squeeze=False)
    for ax, (label, hist) in zip(axes[0], histograms.items()):
        ax.bar(range(10), hist, color="C2")
        ax.set_xticks(range(10))
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("predicted digit")
    axes[0, 0].set_ylabel("samples")
    fig.tight_layout()
    return fig


def fid_vs_evaluations(curves: dict[str, list[tuple[int, float]]], title: str = "FID against network evaluations"):
    """One line per sampler: FID against the number of network evaluations per sample (log axis)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, points in curves.items():
        nfe, fids = zip(*sorted(points))
        ax.plot(nfe, fids, "o-" if len(points) > 1 else "s", label=label)
    ax.set_xscale("log")
    return _finish(fig, ax, "network evaluations per sample", "FID", title)


def nearest_pairs(queries: np.ndarray, neighbours: np.ndarray, distances: np.ndarray, n: int = 10):
    """Two rows per block: ``n`` uint8 queries (top) and their nearest training images (bottom), distance above each pair."""
    import matplotlib.pyplot as plt

    n = min(n, len(queries))
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n + 0.6, 2.6), squeeze=False)
    for j in range(n):
        for i, img in enumerate((queries[j], neighbours[j])):
            axes[i, j].imshow(np.asarray(img).reshape(28, 28), cmap="gray", vmin=0, vmax=255)
            axes[i, j].axis("off")
        axes[0, j].set_title(f"{distances[j]:.1f}", fontsize=8)
    axes[0, 0].text(-4, 14, "sample", rotation=90, va="center", ha="right", fontsize=8)
    axes[1, 0].text(-4, 14, "nearest\ntraining", rotation=90, va="center", ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def distance_histograms(distances: dict[str, np.ndarray], title: str = "distance to the nearest training image"):
    """Overlaid density histograms of nearest-neighbour distances, one per set."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(0, max(float(np.max(d)) for d in distances.values()) * 1.05, 40)
    for label, d in distances.items():
        ax.hist(d, bins=bins, density=True, alpha=0.5, label=f"{label} (median {np.median(d):.2f})")
    return _finish(fig, ax, "Euclidean distance, pixels in [0, 1]", "density", title)


def _finish(fig, ax, xlabel: str, ylabel: str, title: str):
    """Label the axes, add the title and a small legend, and tighten the layout."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def seed_strip(values_by_label: dict[str, Sequence[float]], ylabel: str = "FID (mnist-cnn, 1,000 samples)",
               title: str = "one point per seed", reference: float | None = None):
    """Each label's values, one point per seed (a line at their mean), so that a reader sees the
    spread between seeds and not only its standard deviation; ``reference``: a dashed horizontal line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    for i, (label, values) in enumerate(values_by_label.items()):
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if len(v):
            ax.plot(np.full(len(v), i) + np.linspace(-0.12, 0.12, len(v)), v, "o", color=f"C{i % 10}")
            ax.hlines(v.mean(), i - 0.25, i + 0.25, color=f"C{i % 10}")
    if reference is not None:
        ax.axhline(reference, ls="--", color="grey", lw=1)
    ax.set_xticks(np.arange(len(values_by_label)), list(values_by_label), rotation=20, fontsize=8, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig
