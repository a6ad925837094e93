"""Run a simulation study: scenarios x replicates x methods, in chunks, checkpointed.

Seeds: replicate ``r`` of scenario ``c`` draws its data from
``SeedSequence(spec.seed, spawn_key=(c, r, 0))`` and method ``j`` gets the integer seed of
``SeedSequence(spec.seed, spawn_key=(c, r, 1 + j))``: the children ``SeedSequence(seed).spawn(...)``
gives at those positions. The results therefore depend neither on the number of workers nor on
``chunk_size`` (tested), and every method sees the same data sets (paired comparisons).
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2._io import atomic_write_text
from bayes_il2.errors import SpecError
from bayes_il2.simulation.methods import check_available, run_method
from bayes_il2.runner import Chunk, Progress, run_chunks, split
from bayes_il2.simulation.scenarios import Scenario, scenarios, simulate_effects
from bayes_il2.simulation.spec import SimulationSpec

#: Columns of the tidy results table, in order.
RESULT_COLUMNS = ("cell", "k", "tau", "n", "outcome", "design_mix", "reporting", "mu", "replicate",
                  "method", "kind", "k_used", "estimate", "ci_low", "ci_high", "tau_estimate",
                  "divergences", "failed", "error")


def replicate_seeds(root: int, cell: int, replicate: int, streams: int) -> list[np.random.SeedSequence]:
    """The seed sequences of one replicate: stream 0 draws the data, stream 1 + j seeds method j."""
    return [np.random.SeedSequence(root, spawn_key=(cell, replicate, s)) for s in range(streams)]


def run_replicates(spec: SimulationSpec, chunk: Chunk) -> pd.DataFrame:
    """The work of one chunk: simulate each replicate of the chunk's scenario, run every method."""
    cell: Scenario = chunk.payload
    rows: list[dict[str, Any]] = []
    for rep in range(chunk.start, chunk.stop):
        seeds = replicate_seeds(spec.seed, cell.cell, rep, 1 + len(spec.methods))
        effects = simulate_effects(cell, np.random.default_rng(seeds[0]))
        for j, method in enumerate(spec.methods):
            seed = int(seeds[1 + j].generate_state(1)[0])
            res = run_method(method, effects, seed, spec.level)
            rows.append({**cell.labels(), "mu": cell.mu, "replicate": rep, "method": method.name,
                         "kind": method.kind, "k_used": len(effects), "estimate": res.estimate,
                         "ci_low": res.ci_low, "ci_high": res.ci_high, "tau_estimate": res.tau,
                         "divergences": res.divergences, "failed": res.failed, "error": res.error})
    table = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return table.astype({"cell": "int64", "k": "int64", "n": "int64", "replicate": "int64", "k_used": "int64",
                         "divergences": "int64", "failed": "bool"})


def study_chunks(spec: SimulationSpec) -> list[Chunk]:
    """Every chunk of the study: per scenario, replicate ranges of ``chunk_size``."""
    return [Chunk(key=f"cell{cell.cell:04d}_rep{start:06d}", start=start, stop=stop, payload=cell)
            for cell in scenarios(spec) for start, stop in split(spec.replicates, spec.chunk_size)]


def prepare_directory(spec: SimulationSpec, out_dir: Path, resume: bool) -> Path:
    """Create ``out_dir/chunks``; without ``resume`` remove the study's earlier chunk files.

    Raises
    ------
    SpecError
        ``resume`` on a directory holding the results of a different study spec.
    """
    chunks = out_dir / "chunks"
    marker = out_dir / "study.json"
    fingerprint = spec.fingerprint()
    if resume and marker.exists():
        old = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
        if old != fingerprint:
            raise SpecError(f"{spec.source}: --resume: {out_dir} holds chunks of a different study spec "
                            "(the spec changed since); run without --resume or use another --out")
    if not resume and chunks.exists():
        for path in chunks.glob("cell*_rep*.parquet"):
            path.unlink()
    chunks.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, json.dumps({"name": spec.name, "fingerprint": fingerprint,
                                          "spec": {k: v for k, v in asdict(spec).items() if k != "source"}},
                                         indent=2, default=str))
    return chunks


def run_study(spec: SimulationSpec, out_dir: str | os.PathLike | None = None, *, client: Any = None,
              resume: bool = False, progress: bool = True, on_chunk: Any = None) -> pd.DataFrame:
    """Run every scenario, replicate and method of ``spec`` and return the tidy results table.

    Parameters
    ----------
    spec : SimulationSpec
    out_dir : path, optional
        Checkpoint each chunk to ``out_dir/chunks/<chunk>.parquet``; None keeps results in memory.
    client : distributed.Client, optional
        Run the chunks on Dask; None runs them in this process.
    resume : bool
        Keep the chunks already in ``out_dir`` and run only the missing ones.
    progress : bool
        Report chunks done, fits/s and the ETA on stderr.
    on_chunk : callable, optional
        Called with each finished chunk (see :func:`bayes_il2.runner.run_chunks`).

    Returns
    -------
    DataFrame
        One row per scenario, replicate and method: :data:`RESULT_COLUMNS`.
    """
    check_available(spec.methods)
    chunks = study_chunks(spec)
    directory = prepare_directory(spec, Path(out_dir), resume) if out_dir is not None else None
    bar = Progress(len(chunks), fits_per_replicate=len(spec.methods), label=spec.name) if progress else None
    return run_chunks(chunks, functools.partial(run_replicates, spec), client=client, checkpoint_dir=directory,
                      progress=bar, on_chunk=on_chunk)
