"""ddpm_mnist: denoising diffusion models on MNIST, reproducing and extending a student report."""

__version__ = "0.1.0"
