"""What a run's samples look like, from numbers: their ink (how much, and how much of it at the
centre of the frame, :mod:`ddpm_mnist.eval.ink`) and the digits the MNIST classifier reads them as,
against the MNIST test digits."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from .. import data
from ..eval import ink


CENTRE_BLOB = 0.4
"""Share of a sample's ink in the central quarter of the frame above which :func:`speckle_look`
calls the ink gathered around a blob (evenly spread ink puts 0.25 there, a test digit about 0.7)."""


def sample_ink(result: dict) -> tuple[float, float]:
    """Median ink (pixels' worth) and median share of it in the central 14 × 14 pixels of a stored
    run's saved samples (the grid's), :mod:`ddpm_mnist.eval.ink`."""
    samples = torch.from_numpy(np.asarray(result["samples"]))
    return ink.ink(samples).median().item(), ink.centre_share(samples).nanmedian().item()


@functools.cache
def reference_ink() -> tuple[float, float]:
    """:func:`sample_ink`'s two medians for the MNIST test digits."""
    digits = data.load_mnist_uint8(train=False)[0]
    return ink.ink(digits).median().item(), ink.centre_share(digits).nanmedian().item()


def ink_text(result: dict) -> str:
    """"a median of 46 pixels' worth of ink, against 101 for an MNIST test digit"."""
    return f"a median of {sample_ink(result)[0]:.0f} pixels' worth of ink, against {reference_ink()[0]:.0f} for an MNIST test digit"


def speckle_look(result: dict) -> str:
    """What the grid of a model that draws no strokes shows, from where the ink of its samples
    lies: "speckle spread over the whole frame (...)" or "speckle gathered around a blob at the
    centre (...)", with the two medians of :func:`sample_ink` against the test digits'."""
    amount, centre = sample_ink(result)
    test_amount, test_centre = reference_ink()
    where = "gathered around a blob at the centre" if centre >= CENTRE_BLOB else "spread over the whole frame"
    return (f"speckle {where} (a median of {amount:.0f} pixels' worth of ink, {centre:.0%} of it in the central quarter of "
            f"the frame; an MNIST test digit has {test_amount:.0f}, {test_centre:.0%} of it there)")


def digit_share(result: dict, digit: int) -> float:
    """Fraction (0-1) of a stored run's scored samples that the MNIST classifier reads as ``digit``."""
    hist = result["metrics"]["digits"]["histogram"]
    return hist[digit] / sum(hist)


@functools.cache
def reference_digit_share(digit: int) -> float:
    """Fraction (0-1) of the MNIST test set labelled ``digit`` (its classes are not exactly
    balanced: 8.9% are 5s, 11.4% are 1s)."""
    labels = data.load_mnist_uint8(train=False)[1]
    return (labels == digit).float().mean().item()


def shares_differ(p: float, q: float, n_p: int, n_q: int, z: float = 1.96) -> bool:
    """Whether two shares counted on ``n_p`` and ``n_q`` independent samples differ by more than
    ``z`` standard errors of their difference, ``sqrt(p(1-p)/n_p + q(1-q)/n_q)`` (the normal
    approximation to two binomial counts; z = 1.96: a two-sided 95% test)."""
    return abs(p - q) > z * float(np.sqrt(p * (1 - p) / n_p + q * (1 - q) / n_q))


def crowded_digits(histogram: Sequence[int], factor: float = 2.0) -> list[tuple[int, float, float]]:
    """The digits a run's samples crowd onto: (digit, its share of the ``histogram`` of classifier
    readings, the MNIST test set's share), most frequent first, for every digit read at least
    ``factor`` times as often as the test set has it and beyond the counting error of both
    (:func:`shares_differ`, against the 10,000 test digits)."""
    n = int(sum(histogram))
    shares = [(d, c / n, reference_digit_share(d)) for d, c in enumerate(histogram)] if n else []
    return sorted([(d, p, q) for d, p, q in shares if p >= factor * q and shares_differ(p, q, n, 10_000)], key=lambda x: -x[1])
