import pytest
import torch

from ddpm_mnist.core.models import MODELS, build_model, count_parameters, model_options


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch", [1, 7])
def test_output_shape(name, batch):
    model = build_model(name, T=15)
    x = torch.randn(batch, 1, 28, 28)
    t = torch.randint(1, 16, (batch,))
    assert model(x, t).shape == (batch, 1, 28, 28)


def test_unet_options_and_time_dependence():
    model = build_model("unet", T=15, channels=(8, 16, 32), n_convs=5)
    x = torch.randn(2, 1, 28, 28)
    a, b = model(x, torch.tensor([1, 1])), model(x, torch.tensor([9, 9]))
    assert not torch.allclose(a, b)
    assert count_parameters(model) < count_parameters(build_model("unet", T=15))
    assert sum(1 for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)) == 5


def test_report_baseline_unet_has_ten_convolutions():
    model = build_model("unet", T=15, channels=(32, 64, 128), n_convs=10)
    assert sum(1 for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)) == 10


def test_conv_uses_time_channel():
    model = build_model("conv", T=15, n_convs=4, channels=4)
    assert model.convs[0].in_channels == 2 and len(model.convs) == 4


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="valid models: dense, conv, unet"):
        build_model("resnet", T=10)
    with pytest.raises(ValueError, match=r"does not take chanels; valid options: channels=\(32, 64, 128\)"):
        build_model("unet", T=10, chanels=(8, 16))
    with pytest.raises(ValueError, match="at least 5"):
        build_model("unet", T=10, n_convs=3)
    with pytest.raises(ValueError, match="at least 2"):
        build_model("conv", T=10, n_convs=1)
    assert "hidden" in model_options("dense")


@pytest.mark.parametrize("name", list(MODELS))
def test_bad_input_shapes_say_what_is_expected(name):
    model = build_model(name, T=10)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\), got \(2, 1, 20, 20\)"):
        model(torch.randn(2, 1, 20, 20), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="expected integer time steps of shape"):
        model(torch.randn(2, 1, 28, 28), torch.tensor([0.5, 0.2]))
