"""Does a model copy its training set? Nearest neighbours in pixel space.

For each query image the closest training images in Euclidean distance between pixel values
scaled to [0, 1] (so a distance of 1 is, for instance, one pixel going from black to white, and
two MNIST digits differ by about 5 to 12). A model that memorises produces samples much closer to
their nearest training image than fresh test digits are to theirs; a model that generalises
produces a distance distribution like the test digits'.
"""

from __future__ import annotations

import torch

from .classifier import to_unit


def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, k: int = 1, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest ``reference`` images of every query.

    ``queries``: uint8 (N, 28, 28) or (N, 1, 28, 28); ``reference``: uint8 (M, ...) alike.
    Returns ``(distances float32 (N, k), indices int64 (N, k))``, nearest first, distances in
    [0, 28] (pixel values scaled to [0, 1])."""
    if not 1 <= k <= len(reference):
        raise ValueError(f"k must be between 1 and the {len(reference)} reference images, got {k}")
    q = to_unit(queries).flatten(1)
    r = to_unit(reference).flatten(1)
    r_sq = r.square().sum(1)
    dists, idx = [], []
    for i in range(0, len(q), batch_size):
        qb = q[i : i + batch_size]
        d2 = qb.square().sum(1, keepdim=True) - 2 * qb @ r.T + r_sq  # (b, M), |q - r|^2, fast but cancels
        _, j = d2.topk(min(k + 4, len(r)), dim=1, largest=False)  # candidates, with a margin for rounding
        d = (qb[:, None, :] - r[j]).norm(dim=2)  # exact distances to the candidates
        d, order = d.sort(dim=1)
        dists.append(d[:, :k])
        idx.append(j.gather(1, order)[:, :k])
    return torch.cat(dists), torch.cat(idx)
