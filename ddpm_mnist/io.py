"""Safe files: atomic writes, and a lock for work that only one process may do at a time.

An atomic write goes to a temporary file beside the target, then is renamed over it: a reader
never sees a half-written result or checkpoint, and an interrupted write leaves the previous
version intact. :func:`exclusive` keeps two processes (two runner lanes, say) from training
the same checkpoint at once.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename ``tmp_path`` to ``path`` once it has returned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n"))


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically ``torch.save`` ``obj``."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_npy(path: str | os.PathLike, array) -> Path:
    """Atomically save a numpy array as ``.npy``."""
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    return atomic_write(path, write)


def save_npz(path: str | os.PathLike, **arrays) -> Path:
    """Atomically save named numpy arrays as a compressed ``.npz``."""
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return atomic_write(path, write)


class LockedError(RuntimeError):
    """Another process holds the lock asked for (see :func:`exclusive`)."""


@contextmanager
def exclusive(path: str | os.PathLike, *, wait: bool = True) -> Iterator[Path]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the ``with`` block.

    The operating system releases it when the holder exits, however it exits, so a killed
    process leaves no stale lock. ``wait=False``: raise :class:`LockedError` at once if another
    holder has it, instead of waiting. Where ``fcntl`` is missing (Windows) nothing is locked."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield path
        return
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockedError(f"{path} is locked by another process (a runner computing the same training run?); "
                              "wait for it to finish, or run something else meanwhile") from None
        try:
            yield path
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
