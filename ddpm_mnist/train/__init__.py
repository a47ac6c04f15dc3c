"""Training: one step (:mod:`.step`, Ho et al.'s Algorithm 1), the loop that repeats it
(:mod:`.training`), checkpoints (:mod:`.checkpoint`) and the device, precision and path it runs
at (:mod:`.device`, :mod:`.fastpath`, :mod:`.path_choice`). Imports :mod:`ddpm_mnist.core` only
(and the package's ``io`` for atomic files)."""
