"""Training: the loop (:mod:`.training`), checkpoints (:mod:`.checkpoint`) and the device and
precision it runs at (:mod:`.device`). Imports :mod:`ddpm_mnist.core` only (and the package's
``io`` for atomic files)."""
