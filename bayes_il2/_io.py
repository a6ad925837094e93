"""Atomic file output: a reader never sees a half-written file."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def slug(text: str) -> str:
    """``text`` as a file or folder name: characters other than letters, digits, ``-`` and ``_``
    become ``_`` (the pipeline names outcome folders this way and the report finds them so)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _umask_mode(directory: bool) -> int:
    """The mode a plain ``open``/``mkdir`` would give: mkstemp and mkdtemp use 0600/0700."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On an exception (including KeyboardInterrupt) the temporary file is removed and
    ``target`` keeps its previous content.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _umask_mode(directory=False))
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(target: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(target)


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_with(target: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically.

    Use for writers that take a path (``DataFrame.to_csv``, ``Figure.savefig``, netCDF).
    """
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


@contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Build a directory in a temporary sibling and swap it in for ``target`` on success.

    The previous ``target`` (if any) stays intact until the new one is complete; an
    interrupted build leaves it untouched and removes the partial sibling.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        os.chmod(staging, _umask_mode(directory=True))
        backup = None
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(target, backup)
        os.replace(staging, target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
