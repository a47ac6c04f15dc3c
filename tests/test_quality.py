"""Precision/recall, KID and class balance (:mod:`ddpm_mnist.eval.quality`) on sets with known answers."""

import math

import numpy as np
import pytest

from ddpm_mnist.eval.quality import class_kl, kid, polynomial_mmd2, precision_recall


def _gauss(n, d=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_precision_recall_known_cases():
    real = _gauss(500)
    assert precision_recall(real, real) == (1.0, 1.0)  # every point is inside its own ball
    far = _gauss(500, shift=100.0, seed=1)
    assert precision_recall(real, far) == (0.0, 0.0)
    # a collapse onto a small part of the real distribution: precise, but covering little of it
    collapsed = real[np.argsort(real[:, 0])[:50]]
    p, r = precision_recall(real, np.repeat(collapsed, 10, axis=0) + 1e-3 * _gauss(500, seed=2))
    assert p > 0.9 and r < 0.3
    same = precision_recall(_gauss(2000, seed=3), _gauss(2000, seed=4))
    assert all(0.8 < v <= 1 for v in same)
    with pytest.raises(ValueError, match="one dimension"):
        precision_recall(real, real[:, :3])
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(real[:3], real[:3])


def test_kid_unbiased_and_ordered():
    a, b = _gauss(1000, seed=5), _gauss(1000, seed=6)
    mean, std = kid(a, b, subsets=20, subset_size=500)
    assert abs(mean) < 3 * std / math.sqrt(20) + 0.01  # about 0 for one distribution
    near, _ = kid(a, _gauss(1000, shift=0.3, seed=7), subsets=20, subset_size=500)
    far, _ = kid(a, _gauss(1000, shift=1.0, seed=7), subsets=20, subset_size=500)
    assert 0 < near < far
    import torch

    x = torch.randn(40, 4, dtype=torch.float64)
    # the unbiased estimator of a set against itself, by its definition, is -2/(m-1) times the mean off-diagonal kernel term
    k = (x @ x.T / 4 + 1) ** 3
    off = (k.sum() - k.diagonal().sum()) / (40 * 39)
    assert polynomial_mmd2(x, x) == pytest.approx(float(2 * off - 2 * k.mean()))


def test_class_kl_closed_forms():
    assert class_kl([100] * 10) == 0.0
    assert class_kl([1000] + [0] * 9) == pytest.approx(math.log(10))
    assert class_kl([50] * 5 + [0] * 5) == pytest.approx(math.log(2))  # digits 0-4 only
    with pytest.raises(ValueError, match="non-negative counts"):
        class_kl([0] * 10)
