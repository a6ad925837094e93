"""Safe file output: atomic writes, and folders that say who made them.

Two guarantees (README, "What is never deleted"):

- A reader never sees a half-written file or results folder: files are written to a temporary
  sibling and renamed; a results folder is built in a temporary sibling and swapped in.
- Nothing that bayes_il2 did not create is deleted or overwritten. Every folder it writes carries a
  marker file (:data:`MARKER`) that names the command that made it and lists what it holds. An
  existing folder is replaced only when its marker is there, was written by the same command, and
  the folder holds nothing the marker does not list; otherwise :class:`OutputError` says why.

Temporary names carry the writer's process id (``.<name>.<pid>.<random>.tmp``), so that
:func:`clean_stale` can remove what a killed process left behind without touching the work of a
live one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bayes_il2.errors import OutputError

#: The marker file of every folder bayes_il2 writes.
MARKER = ".bayes_il2.json"
_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def slug(text: str) -> str:
    """``text`` as a file or folder name: characters other than letters, digits, ``-`` and ``_``
    become ``_`` (the pipeline names outcome folders this way and the report finds them so)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _umask_mode(directory: bool) -> int:
    """The mode a plain ``open``/``mkdir`` would give: mkstemp and mkdtemp use 0600/0700."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP for the few system calls of a swap; they arrive right after."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    except (AttributeError, ValueError, OSError):  # pragma: no cover - platforms without sigmask
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On an exception (including KeyboardInterrupt) the temporary file is removed and
    ``target`` keeps its previous content.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(target), suffix=".tmp", dir=target.parent)
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


# --------------------------------------------------------------------------- markers
def read_marker(directory: str | os.PathLike) -> dict | None:
    """The marker of ``directory`` (None when it has none or it cannot be read)."""
    try:
        data = json.loads((Path(directory) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(directory: Path) -> dict[str, str]:
    """SHA-256 (hex) of every file under ``directory`` by relative POSIX path, the marker excepted."""
    return {path.relative_to(directory).as_posix(): file_digest(path)
            for path in sorted(Path(directory).rglob("*")) if path.is_file() and path.name != MARKER}


def _manifest(directory: Path) -> list[str]:
    """Every file and folder under ``directory`` (relative paths, sorted), the marker excepted."""
    out = []
    for path in directory.rglob("*"):
        rel = path.relative_to(directory).as_posix()
        if rel != MARKER:
            out.append(rel)
    return sorted(out)


def write_marker(directory: Path, command: str, *, reserve: Iterable[str] = (), digests: bool = False,
                 **details: object) -> None:
    """Write the marker of ``directory``: the command, the time, what it holds, and ``reserve``
    (names the command will add later, such as a report page written after the folder); with
    ``digests``, the SHA-256 of every file (:func:`file_digests`)."""
    from bayes_il2 import __version__

    payload = {"made_by": "bayes_il2", "command": command, "version": __version__,
               "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **details,
               "contents": sorted(set(_manifest(directory)) | set(reserve))}
    if digests:
        payload["digests"] = file_digests(directory)
    atomic_write_text(directory / MARKER, json.dumps(payload, indent=1))


def foreign_entries(directory: Path, marker: dict) -> list[str]:
    """What ``directory`` holds that its marker does not list (the user's files)."""
    listed = set(marker.get("contents", []))
    return [rel for rel in _manifest(directory)
            if rel not in listed and not _STALE.match(Path(rel).name)]  # our own leftover temporaries


def check_replaceable(target: str | os.PathLike, command: str) -> None:
    """Raise :class:`OutputError` unless ``target`` may be (re)written by ``command``.

    Allowed: a missing path, an empty folder, or a folder whose marker says ``command`` made it
    and that holds nothing else. Refused, with the reason: a file, a folder without a marker, a
    folder another command made, a folder with files the marker does not list.
    """
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise OutputError(f"{target} exists and is not a folder; bayes-il2 {command} will not replace it "
                          "(choose another --out)")
    if not any(target.iterdir()):
        return
    marker = read_marker(target)
    if marker is None:
        raise OutputError(f"{target} is a folder that bayes-il2 did not write (it has no {MARKER}); "
                          "nothing in it is touched: choose another --out, or a new or empty folder")
    if marker.get("command") != command:
        raise OutputError(f"{target} holds results of 'bayes-il2 {marker.get('command')}', not of "
                          f"'bayes-il2 {command}'; choose another --out")
    foreign = foreign_entries(target, marker)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(f"{target} holds files that bayes-il2 did not write ({shown}); they would be "
                          "lost when the results are replaced: move them elsewhere or choose another --out")


def prepare_root(root: str | os.PathLike, command: str) -> Path:
    """Make ``root`` a results root of ``command`` (create it, or adopt it when empty), clean what
    killed runs left in it, and return it. A non-empty folder without our marker is refused."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise OutputError(f"--out {root} exists and is not a folder")
    marker = read_marker(root) if root.exists() else None
    if marker is None:
        if root.exists() and any(root.iterdir()):
            raise OutputError(f"--out {root} is a folder that bayes-il2 did not make (it has no {MARKER}) and "
                              "it is not empty; nothing in it is touched: choose a new or empty folder")
        root.mkdir(parents=True, exist_ok=True)
        write_root_marker(root, command, [])
    elif marker.get("command") != f"{command}-root":
        raise OutputError(f"--out {root} holds results of 'bayes-il2 {marker.get('command')}', not a "
                          f"results folder of 'bayes-il2 {command}'; choose another --out")
    clean_stale(root)
    return root


def write_root_marker(root: Path, command: str, files: Iterable[str]) -> None:
    """The marker of a results root: it lists only the files written directly in the root (report
    pages); analysis folders carry markers of their own, and other files are the user's."""
    from bayes_il2 import __version__

    old = read_marker(root) or {}
    payload = {"made_by": "bayes_il2", "command": f"{command}-root", "version": __version__,
               "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "contents": sorted(set(old.get("contents", [])) | set(files))}
    atomic_write_text(root / MARKER, json.dumps(payload, indent=1))


def check_root_file(root: Path, name: str) -> None:
    """Refuse to overwrite ``root/name`` unless the root's marker lists it (we wrote it before)."""
    path = root / name
    if path.exists() and name not in set((read_marker(root) or {}).get("contents", [])):
        raise OutputError(f"{path} exists and was not written by bayes-il2; it is left as it is "
                          "(move it, or choose another --out)")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's live process
        return True
    return True


def clean_stale(root: str | os.PathLike) -> list[str]:
    """Remove what killed bayes_il2 processes left in ``root``; return what was done.

    Temporary files and folders (``.<name>.<pid>.<random>.tmp``) of processes that no longer run
    are removed; a results folder moved aside for a swap (``.<name>.old``) is put back when the
    swap never finished, and removed when it did.
    """
    root = Path(root)
    done: list[str] = []
    if not root.is_dir():
        return done
    for entry in root.iterdir():
        m = _STALE.match(entry.name)
        if m and not _alive(int(m["pid"])):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            done.append(f"removed {entry.name} (left by process {m['pid']}, which no longer runs)")
        elif entry.name.startswith(".") and entry.name.endswith(".old") and entry.is_dir():
            live = root / entry.name[1:-4]
            if read_marker(entry) is None:
                continue
            if live.exists():
                shutil.rmtree(entry, ignore_errors=True)
                done.append(f"removed {entry.name} (an earlier swap had finished)")
            else:
                os.replace(entry, live)
                done.append(f"restored {live.name} (an earlier swap was interrupted)")
    return done


@contextmanager
def atomic_directory(target: str | os.PathLike, command: str = "run", *,
                     reserve: Iterable[str] = (), digests: bool = False, **details: object) -> Iterator[Path]:
    """Build a results folder in a temporary sibling and swap it in for ``target`` on success.

    ``target`` must be replaceable by ``command`` (:func:`check_replaceable`: checked before the
    build and again just before the swap). The new folder gets a marker naming ``command`` and
    listing its contents plus ``reserve``. The previous folder stays intact until the new one is
    complete; an interrupted build leaves it untouched and removes the partial sibling.
    """
    target = Path(target)
    check_replaceable(target, command)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield staging
        write_marker(staging, command, reserve=reserve, digests=digests, **details)
        os.chmod(staging, _umask_mode(directory=True))
        check_replaceable(target, command)
        with _signals_held():
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
