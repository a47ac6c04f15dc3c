"""The report's three denoisers. Each maps ``(x_t, t)`` to a tensor shaped like ``x_t``.

``x_t``: float (B, C, 28, 28); ``t``: int64 (B,) in 1..T. What the output means (a mean,
a noise, ...) is fixed by the loss the model is trained with, not by the model.

* ``dense`` (report, 4.1): an MLP on the flattened image; ``t/T`` is appended to the input of
  every layer.
* ``conv`` (report, 4.2): plain 3x3 convolutions at full resolution; the time step enters as an
  extra 28x28 input channel filled with ``t/T``, as in the report's figure 4.
* ``unet`` (report, 4.3): an encoder-decoder with skip concatenations and a sinusoidal time
  embedding added to every block; ``channels`` gives the width at each resolution
  (28, 14, 7 for three levels) and ``n_convs`` the total number of 3x3 convolutions in its
  2L-1 blocks (the report's baseline: 10 convolutions = 2 per block for 3 levels).
  With ``num_classes > 0`` it is class-conditional (beyond the report): ``forward(x, t, y)``
  adds an embedding of the label ``y`` (int64 (B,) in 0..num_classes, where ``num_classes``
  means "no label", for classifier-free guidance) to the time embedding.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn
from torch.nn import functional as F


def check_input(x: torch.Tensor, t: torch.Tensor, channels: int) -> None:
    """Raise a ValueError unless ``x`` is (B, channels, 28, 28) and ``t`` is (B,) integer."""
    if x.dim() != 4 or x.shape[1:] != (channels, 28, 28):
        raise ValueError(f"expected images of shape (B, {channels}, 28, 28), got {tuple(x.shape)}")
    if t.shape != (x.shape[0],) or t.is_floating_point():
        raise ValueError(f"expected integer time steps of shape ({x.shape[0]},), got {tuple(t.shape)} {t.dtype}")


def _time_fraction(t: torch.Tensor, T: int, like: torch.Tensor) -> torch.Tensor:
    return (t.to(like.dtype) / T).reshape(-1, 1)


class Dense(nn.Module):
    """MLP denoiser on flattened images; ``hidden`` are the widths of the hidden layers."""

    def __init__(self, T: int, hidden: tuple[int, ...] = (1024, 1024, 1024), image_channels: int = 1):
        super().__init__()
        if not hidden:
            raise ValueError("dense: hidden must list at least one layer width")
        self.T = T
        self.image_channels = image_channels
        d = image_channels * 28 * 28
        widths = [d, *hidden]
        self.layers = nn.ModuleList(nn.Linear(w + 1, w_next) for w, w_next in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1] + 1, d)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        check_input(x, t, self.image_channels)
        tt = _time_fraction(t, self.T, x)
        h = x.flatten(1)
        for layer in self.layers:
            h = F.silu(layer(torch.cat([h, tt.to(h.dtype)], 1)))
        return self.out(torch.cat([h, tt.to(h.dtype)], 1)).reshape(x.shape)


class Conv(nn.Module):
    """``n_convs`` 3x3 convolutions of ``channels`` filters at full resolution; time as an input channel."""

    def __init__(self, T: int, n_convs: int = 4, channels: int = 4, image_channels: int = 1):
        super().__init__()
        if n_convs < 2:
            raise ValueError(f"conv: n_convs must be at least 2 (input and output convolutions), got {n_convs}")
        self.T = T
        self.image_channels = image_channels
        widths = [image_channels + 1] + [channels] * (n_convs - 1) + [image_channels]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        check_input(x, t, self.image_channels)
        tmap = _time_fraction(t, self.T, x).reshape(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        h = torch.cat([x, tmap], 1)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < len(self.convs) - 1:
                h = F.silu(h)
        return h


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style embedding of integer steps: (B,) -> (B, dim), float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], 1)


class _Block(nn.Module):
    """``n`` x (3x3 conv -> GroupNorm -> SiLU); the time embedding is added after the first conv."""

    def __init__(self, c_in: int, c_out: int, n: int, temb_dim: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1) for i in range(n))
        self.norms = nn.ModuleList(nn.GroupNorm(min(8, c_out), c_out) for _ in range(n))
        self.temb = nn.Linear(temb_dim, c_out)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            h = conv(h)
            if i == 0:
                h = h + self.temb(temb)[:, :, None, None].to(h.dtype)
            h = F.silu(norm(h))
        return h


class UNet(nn.Module):
    """U-Net with ``len(channels)`` resolution levels and ``n_convs`` 3x3 convolutions in its blocks."""

    def __init__(self, T: int, channels: tuple[int, ...] = (32, 64, 128), n_convs: int = 10, image_channels: int = 1,
                 num_classes: int = 0):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError(f"unet: channels needs at least two levels, got {channels}")
        if 28 % 2 ** (len(channels) - 1):
            raise ValueError(f"unet: {len(channels)} levels do not divide a 28x28 image evenly; use 2 or 3")
        n_blocks = 2 * len(channels) - 1
        if n_convs < n_blocks:
            raise ValueError(f"unet: n_convs must be at least {n_blocks} (one per block) for {len(channels)} levels, got {n_convs}")
        per_block = [n_convs // n_blocks + (1 if i < n_convs % n_blocks else 0) for i in range(n_blocks)]
        self.T = T
        self.channels = channels
        self.image_channels = image_channels
        temb_dim = 4 * channels[0]
        self.temb_dim = temb_dim
        self.time_mlp = nn.Sequential(nn.Linear(temb_dim, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        self.num_classes = num_classes
        if num_classes:
            self.label_emb = nn.Embedding(num_classes + 1, temb_dim)  # the last row: "no label"
        counts = iter(per_block)
        self.down = nn.ModuleList()
        c_prev = image_channels
        for c in channels[:-1]:
            self.down.append(_Block(c_prev, c, next(counts), temb_dim))
            c_prev = c
        self.mid = _Block(c_prev, channels[-1], next(counts), temb_dim)
        self.ups = nn.ModuleList()
        self.up = nn.ModuleList()
        for c_low, c in zip(reversed(channels[1:]), reversed(channels[:-1])):
            self.ups.append(nn.ConvTranspose2d(c_low, c, 2, stride=2))
            self.up.append(_Block(2 * c, c, next(counts), temb_dim))
        self.out = nn.Conv2d(channels[0], image_channels, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_input(x, t, self.image_channels)
        temb = self.time_mlp(sinusoidal_embedding(t, self.temb_dim).to(x.dtype))
        if self.num_classes:
            if y is None:
                y = torch.full_like(t, self.num_classes)
            elif y.shape != t.shape or y.is_floating_point():
                raise ValueError(f"expected integer labels of shape {tuple(t.shape)} in 0..{self.num_classes}, got {tuple(y.shape)} {y.dtype}")
            temb = temb + self.label_emb(y).to(temb.dtype)
        elif y is not None:
            raise ValueError("this U-Net is unconditional (num_classes=0) and takes no labels")
        skips = []
        h = x
        for block in self.down:
            h = block(h, temb)
            skips.append(h)
            h = F.max_pool2d(h, 2)
        h = self.mid(h, temb)
        for upsample, block in zip(self.ups, self.up):
            h = block(torch.cat([upsample(h), skips.pop()], 1), temb)
        return self.out(h)


MODELS: dict[str, type[nn.Module]] = {"dense": Dense, "conv": Conv, "unet": UNet}


class InputScaled(nn.Module):
    """A denoiser fed :math:`s_t x_t` instead of :math:`x_t`: ``scale`` (T+1,) holds :math:`s_t`
    (Karras et al.'s :math:`c_\\text{in}`, see :func:`ddpm_mnist.core.diffusion.edm_coefficients`).
    The scale is fixed by the schedule, so it is not stored with the weights."""

    def __init__(self, net: nn.Module, scale: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("scale", scale.float(), persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        s = self.scale.to(t.device)[t].to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        return self.net(x * s, t, *args)


def model_options(name: str) -> dict[str, object]:
    """The keyword arguments ``build_model(name, ...)`` accepts, with their defaults."""
    cls = _model_class(name)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {p.name: p.default for p in params}


def _model_class(name: str) -> type[nn.Module]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}") from None


def build_model(name: str, T: int, **options) -> nn.Module:
    """Build the denoiser ``name`` (``dense``, ``conv`` or ``unet``) for ``T`` noising steps.

    Unknown options raise a ValueError naming the valid ones for that model."""
    cls = _model_class(name)
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid) - {"T"})
    if unknown:
        shown = ", ".join(f"{k}={v!r}" for k, v in valid.items() if k != "T")
        raise ValueError(f"model {name!r} does not take {', '.join(unknown)}; valid options: {shown}")
    return cls(T=T, **options)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
