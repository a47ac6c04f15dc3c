"""The DDPM maths and networks, readable on their own: schedules (:mod:`.schedules`), the
forward process and posterior (:mod:`.diffusion`), losses (:mod:`.losses`), networks
(:mod:`.models`), samplers (:mod:`.sampling`), data ranges (:mod:`.ranges`) and what a
denoiser is (:mod:`.spec`). Torch only: no file I/O, nothing from the layers above."""
