"""The tool a user would pick instead: a Hugging Face ``diffusers`` DDPM, trained and sampled the
way its documentation does it, for a side-by-side comparison at equal wall-clock.

The network is a ``UNet2DModel`` of about the project U-Net's size (:data:`PEER_UNET`: channels
(32, 32, 48), one ResNet block a level, self-attention at 7 x 7; 0.57M parameters against
0.54M). Training follows the defaults of diffusers' ``examples/unconditional_image_generation/
train_unconditional.py``: ``DDPMScheduler`` with T = 1000 and its linear betas, ε-prediction
with the MSE, AdamW (lr 1e-4, betas (0.95, 0.999), weight decay 1e-6, eps 1e-8), cosine lr
decay after 500 warm-up steps, gradients clipped at norm 1, and ``EMAModel`` (decay up to 0.9999,
warm-up with inv_gamma 1 and power 3/4). The batch size is the project's recipe's (64), so both
see data at the same rate per step. Sampling: ``DDIMScheduler`` built from the training
scheduler's config, 50 steps, η = 0 (its ``clip_sample`` default on).

A timed run fixes its number of steps from a probe, as :func:`.training.train` does
(:mod:`.budget`), so that the cosine decay ends at the last step. ``diffusers`` is an optional
dependency (``pip install -e .[compare]``).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from .budget import plan_steps, probe_step_seconds
from .training import epoch_permutation

PEER_UNET = {"sample_size": 28, "in_channels": 1, "out_channels": 1, "block_out_channels": (32, 32, 48), "layers_per_block": 1,
             "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
             "up_block_types": ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), "norm_num_groups": 8}
"""``UNet2DModel`` keyword arguments of the peer network."""

PEER_TRAINING = {"batch_size": 64, "lr": 1e-4, "betas": (0.95, 0.999), "weight_decay": 1e-6, "eps": 1e-8, "warmup_steps": 500,
                 "grad_clip": 1.0, "ema_max_decay": 0.9999, "ema_inv_gamma": 1.0, "ema_power": 0.75, "T": 1000}
"""The peer's training settings (``train_unconditional.py``'s defaults, batch size excepted)."""


def _diffusers():
    try:
        import diffusers
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import EMAModel
    except ImportError:
        raise ImportError("the diffusers comparison needs the diffusers package: pip install -e .[compare]") from None
    return diffusers, get_scheduler, EMAModel


@dataclass
class PeerResult:
    """A trained peer: its EMA network (eval mode), the training scheduler, and what the run took."""

    model: torch.nn.Module
    scheduler: object
    steps: int
    images_seen: int
    wall_time_s: float
    time_budget: dict


def train_peer(images: torch.Tensor, minutes: float, *, seed: int = 0, device: str | torch.device = "cpu",
               progress: bool = False) -> PeerResult:
    """Train the diffusers peer on ``images`` (float (N, 1, 28, 28) in [-1, 1]) for about
    ``minutes`` of wall-clock (counted from this call). The data order is the project's
    (:func:`.training.epoch_permutation`), the noise and time steps come from a generator
    seeded with ``seed``."""
    entered = time.perf_counter()
    diffusers, get_scheduler, EMAModel = _diffusers()
    device = torch.device(device)
    cfg = PEER_TRAINING
    torch.manual_seed(seed)
    model = diffusers.UNet2DModel(**PEER_UNET).to(device)
    noise_scheduler = diffusers.DDPMScheduler(num_train_timesteps=cfg["T"])
    alphas = noise_scheduler.alphas_cumprod.to(device)
    gen = torch.Generator(device=device).manual_seed(seed)

    def make_step(net: torch.nn.Module, opt: torch.optim.Optimizer, ema, lr_sched):
        def step(x0: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            noise = torch.randn(x0.shape, generator=g, device=device)
            t = torch.randint(0, cfg["T"], (len(x0),), generator=g, device=device)
            a = alphas[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise  # DDPMScheduler.add_noise
            loss = torch.nn.functional.mse_loss(net(noisy, t).sample, noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg["grad_clip"])
            opt.step()
            if lr_sched is not None:
                lr_sched.step()
            ema.step(net.parameters())
            return loss.detach()
        return step

    def optimizer(net):
        return torch.optim.AdamW(net.parameters(), lr=cfg["lr"], betas=cfg["betas"], weight_decay=cfg["weight_decay"], eps=cfg["eps"])

    def averager(net):
        return EMAModel(net.parameters(), decay=cfg["ema_max_decay"], use_ema_warmup=True, inv_gamma=cfg["ema_inv_gamma"],
                        power=cfg["ema_power"])

    bs = min(cfg["batch_size"], len(images))
    probe = copy.deepcopy(model)
    first, typical = probe_step_seconds(make_step(probe, optimizer(probe), averager(probe), None), images[:bs].to(device), device)
    del probe
    steps, budget = plan_steps(minutes, entered, first, typical)
    opt = optimizer(model)
    ema = averager(model)
    lr_sched = get_scheduler("cosine", optimizer=opt, num_warmup_steps=min(cfg["warmup_steps"], steps), num_training_steps=steps)
    step = make_step(model, opt, ema, lr_sched)
    images = images.to(device)
    per_epoch = len(images) // bs
    model.train()
    for n in tqdm(range(steps), disable=not progress, desc="train diffusers peer"):
        epoch, i = divmod(n, per_epoch)
        if i == 0:
            perm = epoch_permutation(len(images), seed, epoch).to(device)
        step(images[perm[i * bs : (i + 1) * bs]], gen)
    ema.copy_to(model.parameters())
    model.eval()
    wall = time.perf_counter() - entered
    return PeerResult(model, noise_scheduler, steps, steps * bs, wall, budget)


@torch.inference_mode()
def sample_peer(peer: PeerResult, n: int, *, steps: int = 50, eta: float = 0.0, seed: int = 0, batch_size: int = 500,
                device: str | torch.device = "cpu") -> torch.Tensor:
    """``n`` samples of the peer with ``DDIMScheduler`` (``steps`` steps, ``eta``): float
    (n, 1, 28, 28) in [-1, 1] on the CPU."""
    diffusers, _, _ = _diffusers()
    device = torch.device(device)
    ddim = diffusers.DDIMScheduler.from_config(peer.scheduler.config)
    ddim.set_timesteps(steps)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    for i in range(0, n, batch_size):
        x = torch.randn((min(batch_size, n - i), 1, 28, 28), generator=gen, device=device)
        for t in ddim.timesteps:
            eps = peer.model(x, t).sample
            x = ddim.step(eps, t, x, eta=eta, generator=gen).prev_sample
        out.append(x.clamp(-1, 1).cpu())
    return torch.cat(out)
