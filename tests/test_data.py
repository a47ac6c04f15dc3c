import pytest
import torch

from ddpm_mnist.data import DatasetNotFoundError, load_mnist, load_mnist_uint8
from ddpm_mnist.core.ranges import normalize, to_uint8


def test_load_shapes_and_ranges():
    images, labels = load_mnist_uint8(train=False)
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.uint8 and labels.shape == (10000,)
    for name, (lo, hi) in {"[0,255]": (0, 255), "[0,1]": (0, 1), "[-1,1]": (-1, 1)}.items():
        x = load_mnist(train=False, value_range=name, subset=100)
        assert x.dtype == torch.float32 and x.shape == (100, 1, 28, 28)
        assert x.min().item() == pytest.approx(lo) and x.max().item() == pytest.approx(hi)


def test_round_trip_uint8():
    images, _ = load_mnist_uint8(train=False)
    for name in ("[0,255]", "[0,1]", "[-1,1]"):
        assert torch.equal(to_uint8(normalize(images[:50], name), name), images[:50])


def test_subset_is_seeded():
    a = load_mnist(subset=64, seed=1)
    assert torch.equal(a, load_mnist(subset=64, seed=1)) and not torch.equal(a, load_mnist(subset=64, seed=2))


def test_to_uint8_clamps_and_handles_nan():
    x = torch.tensor([-3.0, 0.0, 3.0, float("nan")])
    assert to_uint8(x, "[-1,1]").tolist() == [0, 128, 255, 0]


def test_missing_dataset_message(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"Looked in: .*DDPM_MNIST_DATA"):
        load_mnist_uint8(root=tmp_path / "nowhere")


def test_bad_range_and_subset():
    with pytest.raises(ValueError, match=r"valid ranges: \[0,255\], \[0,1\], \[-1,1\]"):
        load_mnist(value_range="[0,2]")
    with pytest.raises(ValueError, match="subset"):
        load_mnist(train=False, subset=10**6)
