"""The diffusers peer of the ten-minute comparison: trains for a time budget, samples with DDIM."""

import pytest
import torch

pytest.importorskip("diffusers")

from ddpm_mnist.train.peer import PEER_UNET, sample_peer, train_peer  # noqa: E402


def test_peer_has_about_the_project_unets_size():
    import diffusers

    n = sum(p.numel() for p in diffusers.UNet2DModel(**PEER_UNET).parameters())
    assert 0.45e6 < n < 0.7e6  # the project U-Net (32, 64, 128): 0.54M


def test_peer_trains_for_its_budget_and_samples_in_range(mnist512):
    peer = train_peer(mnist512[:128], minutes=0.03, seed=0)
    assert peer.steps == peer.time_budget["planned_steps"] >= 1 and peer.images_seen == 64 * peer.steps
    assert not peer.model.training
    x = sample_peer(peer, 3, steps=4, seed=1)
    assert x.shape == (3, 1, 28, 28) and torch.isfinite(x).all() and x.abs().max() <= 1
    assert torch.equal(x, sample_peer(peer, 3, steps=4, seed=1))  # seeded
