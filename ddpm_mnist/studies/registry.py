"""Every study by name: the report's (:data:`~ddpm_mnist.studies.report.STUDIES`) and those of
the part beyond it (:data:`~ddpm_mnist.studies.beyond.BEYOND`), which both feed this registry."""

from __future__ import annotations

from .beyond import BEYOND
from .protocol import PROTOCOL
from .report import STUDIES
from .study import Study

ALL_STUDIES: dict[str, Study] = {**STUDIES, **BEYOND, PROTOCOL.name: PROTOCOL}
"""Every study the book shows, by name: the report's first, in its order, then the part beyond
it and the protocol study."""


def get_study(name: str) -> Study:
    """The study ``name`` (the report's or one beyond it); a clear error lists the valid names."""
    try:
        return ALL_STUDIES[name]
    except KeyError:
        raise ValueError(f"unknown study {name!r}; valid studies: {', '.join(ALL_STUDIES)}") from None
