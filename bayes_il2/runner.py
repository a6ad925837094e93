"""Chunked replicate loops, in-process or on Dask.distributed, checkpointed per chunk.

A low-level module (it imports only pandas, ``_io`` and ``errors``; Dask when a client is used), so
that modeling (SBC), the pipeline (sensitivity grids) and the simulation studies share it without
importing each other. The one loop that simulation studies and simulation-based calibration share
(:func:`run_chunks`): the work is split into chunks (ranges of replicates); a chunk is one task,
so one task holds many fits and a worker reuses its compiled models across them. Each finished
chunk's table is written atomically to ``<checkpoint_dir>/<chunk key>.parquet``; chunks whose
file exists are not run again (resume). On Dask a task that fails or whose worker dies is retried
(``retries``; the scheduler also reschedules tasks of a lost worker). Results do not depend on the
number of workers or the chunking as long as the work function draws its random numbers from
seeds fixed per replicate (``numpy.random.SeedSequence(root, spawn_key=(..., replicate))``, the
replicate's child of ``SeedSequence(root).spawn``).
"""
from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from bayes_il2._io import atomic_write_with
from bayes_il2.errors import BayesIL2Error

SCHEDULER_ENV = "BAYES_IL2_SCHEDULER"


class ClusterError(BayesIL2Error):
    """The Dask scheduler cannot be reached or the cluster cannot start."""


@dataclass(frozen=True)
class Chunk:
    """Replicates ``start`` to ``stop - 1`` of one unit of work (``payload``: what the work needs)."""

    key: str
    start: int
    stop: int
    payload: Any = None

    @property
    def size(self) -> int:
        return self.stop - self.start


def split(total: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of at most ``size`` covering ``range(total)``."""
    return [(s, min(s + size, total)) for s in range(0, total, size)]


@dataclass
class Progress:
    """A one-line progress report on stderr: chunks done, fits per second, ETA."""

    total_chunks: int
    fits_per_replicate: int = 1
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    label: str = "simulate"
    min_interval: float | None = None  # seconds between lines: 0.5 on a terminal, else 5
    done: int = 0
    fits: int = 0
    skipped: int = 0
    _start: float = field(default_factory=time.perf_counter)
    _last: float = 0.0
    _remaining_fits: int = 0

    def start(self, skipped: int, pending_replicates: int) -> None:
        self.skipped = self.done = skipped
        self._remaining_fits = pending_replicates * self.fits_per_replicate
        self._start = time.perf_counter()
        if skipped:
            self._write(f"{self.label}: resuming, {skipped} of {self.total_chunks} chunks already done", end="\n")

    def update(self, chunk: Chunk) -> None:
        self.done += 1
        self.fits += chunk.size * self.fits_per_replicate
        now = time.perf_counter()
        interval = self.min_interval if self.min_interval is not None else (0.5 if self.stream.isatty() else 5.0)
        if now - self._last >= interval or self.done == self.total_chunks:
            self._last = now
            elapsed = now - self._start
            rate = self.fits / elapsed if elapsed > 0 else float("nan")
            left = max(self._remaining_fits - self.fits, 0)
            eta = left / rate if rate and rate > 0 else float("nan")
            eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta == eta else "?"
            self._write(f"{self.label}: chunks {self.done}/{self.total_chunks} | {self.fits} fits | "
                        f"{rate:.1f} fits/s | ETA {eta_text}")

    def finish(self) -> None:
        if self.stream.isatty():
            self._write("", end="\n")

    def _write(self, text: str, end: str | None = None) -> None:
        tty = self.stream.isatty()
        self.stream.write(("\r" + text + "\x1b[K") if tty and end is None else text + (end or "\n"))
        self.stream.flush()


def _checkpoint(directory: Path | None, chunk: Chunk) -> Path | None:
    return None if directory is None else directory / f"{chunk.key}.parquet"


def run_chunks(chunks: Sequence[Chunk], work: Callable[[Chunk], pd.DataFrame], *, client: Any = None,
               checkpoint_dir: str | os.PathLike | None = None, retries: int = 2,
               progress: Progress | None = None,
               on_chunk: Callable[[Chunk], None] | None = None) -> pd.DataFrame:
    """Run ``work`` on every chunk and return the tables concatenated in chunk order.

    Parameters
    ----------
    chunks : sequence of Chunk
        Keys must be unique and usable as file names.
    work : callable
        ``work(chunk) -> DataFrame``; with a Dask ``client`` it must be picklable (a module-level
        function or a ``functools.partial`` of one) and importable on the workers.
    client : distributed.Client, optional
        Run the chunks as Dask tasks; None runs them here, one after the other.
    checkpoint_dir : path, optional
        Write each chunk's table there as ``<key>.parquet`` (atomically) and skip chunks whose file
        exists. The returned table is then read back from these files, so a resumed run and an
        uninterrupted one give identical tables.
    retries : int
        Dask retries of a failed task (a worker killed mid-task is rescheduled by the scheduler).
    progress : Progress, optional
    on_chunk : callable, optional
        Called with each chunk once its table is stored (tests use it to interrupt a run).

    Raises
    ------
    Exception
        The work's own exception when a chunk still fails after its retries.
    """
    keys = [c.key for c in chunks]
    if len(set(keys)) != len(keys):
        raise ValueError("run_chunks: chunk keys must be unique")
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    done = {c.key for c in chunks if directory is not None and _checkpoint(directory, c).exists()}
    pending = [c for c in chunks if c.key not in done]
    tables: dict[str, pd.DataFrame] = {}
    if progress is not None:
        progress.start(len(done), sum(c.size for c in pending))

    def store(chunk: Chunk, table: pd.DataFrame) -> None:
        path = _checkpoint(directory, chunk)
        if path is not None:
            atomic_write_with(path, lambda tmp: table.to_parquet(tmp, index=False))
        else:
            tables[chunk.key] = table
        if progress is not None:
            progress.update(chunk)
        if on_chunk is not None:
            on_chunk(chunk)

    if client is None:
        for chunk in pending:
            store(chunk, work(chunk))
    elif pending:
        from distributed import as_completed

        tag = uuid.uuid4().hex[:8]
        futures = client.map(work, pending, key=[f"bayes-il2-{c.key}-{tag}" for c in pending],
                             retries=retries, pure=False)
        by_key = {f.key: c for f, c in zip(futures, pending, strict=True)}
        try:
            # with_results=False: no background gathers left behind when the loop is interrupted
            for future in as_completed(futures):
                store(by_key[future.key], future.result())
        finally:
            client.cancel(futures)
    if progress is not None:
        progress.finish()
    if directory is not None:
        parts = [pd.read_parquet(_checkpoint(directory, c)) for c in chunks]
    else:
        parts = [tables[c.key] for c in chunks]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def default_workers() -> int:
    """One worker process per CPU core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: How long a client waits for an external scheduler to answer (Dask's own retries within it).
CONNECT_TIMEOUT = "15s"


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: on ``scheduler`` (or ``$BAYES_IL2_SCHEDULER``), else on an embedded LocalCluster.

    The LocalCluster has ``workers`` worker processes (default: one per core) with one thread each.
    Leaving the context (also by Ctrl-C) closes the client and stops the embedded cluster and every
    one of its worker processes.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached, or the cluster cannot start.
    """
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot connect to the Dask scheduler at {address!r} "
                               f"(--scheduler or ${SCHEDULER_ENV}): {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or default_workers()
    if n < 1:
        raise ClusterError(f"--workers must be >= 1, got {n}")
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)  # task errors still reach the client
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise ClusterError(f"cannot start a local Dask cluster with {n} workers: {exc}") from None
    client = Client(cluster)
    try:
        from bayes_il2._dask_worker import IgnoreInterrupts

        client.register_plugin(IgnoreInterrupts(), name="bayes-il2-ignore-sigint")
        yield client
    except KeyboardInterrupt:
        # workers and comms closing under an interrupt log tracebacks that say nothing to the user
        for name in ("distributed", "tornado.application"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        raise
    finally:
        client.close()
        cluster.close()
