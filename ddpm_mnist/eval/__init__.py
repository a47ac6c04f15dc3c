"""Evaluation: the MNIST classifier (:mod:`.classifier`), feature extractors and FID
(:mod:`.metrics`), nearest training images (:mod:`.memorisation`), how much ink a sample
carries and where (:mod:`.ink`). Imports :mod:`ddpm_mnist.core`
only (and the package's ``data`` and ``io``)."""
