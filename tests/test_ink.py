import pytest
import torch

from ddpm_mnist.eval.ink import centre_share, ink


def test_ink_counts_full_pixels_and_accepts_a_channel_axis():
    images = torch.zeros(3, 28, 28, dtype=torch.uint8)
    images[1, :2, :5] = 255  # ten full pixels
    images[2] = 51  # a fifth of ink everywhere: 784 / 5
    assert ink(images).tolist() == pytest.approx([0.0, 10.0, 784 / 5])
    assert torch.equal(ink(images[:, None]), ink(images))


def test_centre_share_of_even_centred_and_blank_images():
    even = torch.full((1, 28, 28), 200, dtype=torch.uint8)
    centred = torch.zeros(1, 28, 28, dtype=torch.uint8)
    centred[0, 10:18, 10:18] = 255
    border = torch.zeros(1, 28, 28, dtype=torch.uint8)
    border[0, 0] = 255
    shares = centre_share(torch.cat([even, centred, border, torch.zeros(1, 28, 28, dtype=torch.uint8)]))
    assert shares[:3].tolist() == pytest.approx([0.25, 1.0, 0.0])
    assert torch.isnan(shares[3])
    assert centre_share(even, size=28).item() == pytest.approx(1.0)


def test_bad_images_are_refused_with_what_to_do():
    with pytest.raises(TypeError, match="uint8"):
        ink(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ink(torch.zeros(28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="size"):
        centre_share(torch.zeros(1, 28, 28, dtype=torch.uint8), size=30)


def test_speckle_look_says_where_a_failed_models_ink_lies(monkeypatch):
    import numpy as np

    from ddpm_mnist.book import appearance

    monkeypatch.setattr(appearance, "reference_ink", lambda: (101.0, 0.71))
    gen = torch.Generator().manual_seed(0)
    speckle = (torch.rand(100, 28, 28, generator=gen) < 0.4).to(torch.uint8) * 255
    blob = speckle // 4
    blob[:, 9:19, 9:19] = 255
    everywhere = appearance.speckle_look({"samples": speckle.numpy()})
    assert everywhere.startswith("speckle spread over the whole frame") and "an MNIST test digit has 101, 71% of it there" in everywhere
    assert appearance.speckle_look({"samples": np.asarray(blob)}).startswith("speckle gathered around a blob at the centre")
    assert appearance.ink_text({"samples": np.zeros((4, 28, 28), np.uint8)}) == \
        "a median of 0 pixels' worth of ink, against 101 for an MNIST test digit"


def test_saturated_share_counts_full_ink_pixels():
    from ddpm_mnist.eval.ink import saturated_share

    images = torch.zeros(2, 28, 28, dtype=torch.uint8)
    images[0, :14] = 255
    images[1, :7] = 249  # just below the level
    assert saturated_share(images).tolist() == pytest.approx([0.5, 0.0])
    assert saturated_share(images, level=249)[1].item() == pytest.approx(0.25)
