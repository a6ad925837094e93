"""Whether an analysis folder of an earlier ``bayes-il2 run`` is up to date, so a run may keep it.

An analysis is a deterministic function of its spec (with the command-line sampler overrides), the
registry, the package's own code and the installed libraries: a rerun with the same seed writes the
same tables (the reproducibility tests check this). :func:`inputs_key` hashes those four; ``run``
records the key and the SHA-256 of every file it wrote in the folder's marker, and a later run keeps
the folder, without recomputing it, when the key is the same and every file is still there, as
written (:func:`kept_run`). Anything else (a changed spec, registry row, library version or source
file, a file of the folder edited, added or removed, an analysis that ended in an error) reruns it;
``--force`` reruns everything. The same idea as make's or the R package targets' up-to-date checks
(Landau 2021, J Open Source Softw 6(57):2959), with content hashes instead of times.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from bayes_il2._io import file_digest, file_digests, read_marker

#: Sampler settings that change what is shown while sampling, not what is computed.
_DISPLAY_ONLY = ("progressbar",)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over the package's files (sources, templates) and every installed distribution's
    name and version, the Python version and the machine type: what, besides the inputs, decides
    an analysis's numbers."""
    from importlib import metadata

    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    installed = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                        if d.metadata['Name']})
    digest.update("\n".join(installed).encode())
    digest.update(f"{sys.version}\n{platform.machine()}".encode())
    return digest.hexdigest()


def inputs_key(spec: Any, registry_version: str) -> str:
    """The key of one analysis's inputs: its spec as parsed (overrides applied; display-only sampler
    settings and the paths it was read from left out), the bytes of a data file the spec names, the
    registry's version (a hash of its files) and :func:`code_fingerprint`."""
    content = dataclasses.asdict(spec)
    for name in _DISPLAY_ONLY:
        content["sampler"].pop(name, None)
    # where the spec and its data file were read from is not an input (``run`` with no argument and
    # ``run models/x.toml`` name the same spec by different paths); the data file's bytes are
    content.pop("source", None)
    content["data"].pop("path", None)
    data_path = getattr(spec.data, "path", None)
    data_file = file_digest(Path(data_path)) if data_path and Path(data_path).is_file() else None
    payload = json.dumps({"spec": content, "data_file": data_file, "registry": registry_version,
                          "code": code_fingerprint()}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def kept_run(folder: Path, key: str) -> dict | None:
    """The run.json of ``folder`` when its results are up to date for ``key``, else None.

    Up to date: a ``run`` marker holding ``key`` and a digest of every file, every file there with
    that digest and nothing else, and an analysis that did not end in an error.
    """
    folder = Path(folder)
    marker = read_marker(folder)
    if not marker or marker.get("command") != "run" or marker.get("inputs_key") != key:
        return None
    recorded = marker.get("digests")
    if not isinstance(recorded, dict) or file_digests(folder) != recorded:
        return None
    try:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(run, dict) or run.get("status") in (None, "error"):
        return None
    return run
