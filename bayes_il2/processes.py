"""Run tasks in worker processes that stop with their parent, and turn signals into exceptions.

:func:`handle_signals` makes SIGINT, SIGTERM and SIGHUP raise :class:`~bayes_il2.errors.Interrupted`
(a KeyboardInterrupt) in the main thread, so every ``finally`` and context manager cleans up on the
way out: a half-built results folder is removed, the previous one is left as it was.

:func:`run_tasks` runs callables in at most ``jobs`` forked worker processes. Each worker

- ignores SIGINT (a Ctrl-C at the terminal reaches the whole process group; the parent decides),
- turns SIGTERM/SIGHUP into :class:`Interrupted`, so it cleans up before it exits, and
- asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG`` on Linux), so that no
  worker outlives a parent killed with SIGKILL.

When the parent is interrupted, or a worker dies of a signal, every worker is sent SIGTERM, given a
few seconds to clean up, then killed; :class:`RunStopped` tells which tasks had finished.

A worker may run tasks itself (``bayes-il2 run`` fits each outcome of a multi-outcome analysis in
a child of its worker: :func:`bayes_il2.pipeline.run_outcome_in_child`). The child gets the same
guarantees against the worker, and a stop signal reaches it through the worker's own loop.

:func:`start_background` runs one callable in a forked process (the same guards as a worker) while
the caller goes on, e.g. drawing the figures of ``fit`` while the parent writes the tables; the
result comes back pickled through a pipe, so the child never writes a results folder itself.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from bayes_il2.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_GRACE_SECONDS = 5.0


def resident_mib() -> float | None:
    """This process's resident set size in MiB (Linux ``/proc/self/statm``; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def release_memory(min_resident_mib: float = 0.0) -> None:
    """Collect garbage and hand freed heap pages back to the kernel (glibc's ``malloc_trim``).

    An MCMC analysis frees large temporaries (draws, quadrature arrays, compiled graphs' buffers)
    between its phases, but glibc keeps the freed pages in the process, so its resident size only
    grows; trimming between phases lowers the peak of the next phase (issue #19). A no-op where the
    C library has no ``malloc_trim`` (macOS, musl).

    ``min_resident_mib``: do nothing while the process is smaller than this (where it can be read):
    a full garbage collection walks every object (0.05-0.2 s in a process that imported scipy and
    xarray), which buys nothing in a small process such as an exact ``fit`` (issue #19).
    """
    import gc

    if min_resident_mib > 0:
        resident = resident_mib()
        if resident is not None and resident < min_resident_mib:
            return
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return
    trim(0)


def freeze_heap() -> None:
    """Collect garbage, then move every object alive now out of the collector's reach (``gc.freeze``),
    before this process forks workers.

    A full collection in a forked child walks every object it inherited (0.1-0.25 s after the
    imports of an analysis) and writes to each one's header, so the pages the child shared with its
    parent are copied. Frozen, the child's collections walk only what it made itself (Python's
    advice for fork without exec). The frozen objects are still freed when their last reference
    goes; only a reference cycle among them is never collected, so freeze where what is alive lives
    on (the imports, the registry, the spec).
    """
    import gc

    gc.collect()
    gc.freeze()


#: Signals turned into Interrupted in this process. An exception raised in a signal handler can be
#: lost (Python prints "Exception ignored" when the signal lands in a weakref callback or a __del__);
#: waits that may be long (:meth:`Background.result`) look here too, so such a signal still stops them.
_received: list[int] = []


def _raise_interrupted(signum: int, frame: Any) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def _check_received() -> None:
    if _received:
        raise Interrupted(_received[-1])


def _hold_stop_signals() -> Any:
    """Hold the stop signals back in this thread (before a fork); returns the mask to restore.

    The parent restores it right after the fork; the child inherits the held signals and lets them
    through (:func:`_let_signals_through`) once its own handlers are set: a SIGTERM landing between
    the fork and that point would run the parent's handler inside Python's after-fork hooks, which
    print "Exception ignored" with a traceback instead of stopping quietly. A signal sent meanwhile
    waits; it is not lost.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _let_signals_through(mask: Any) -> None:
    """The signal mask from before :func:`_hold_stop_signals` (in a forked child: once its handlers are set)."""
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@contextmanager
def handle_signals(signals: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """Within the block, each of ``signals`` raises :class:`Interrupted` in the main thread."""
    old = {}
    _received.clear()
    try:
        for s in signals:
            old[s] = signal.signal(s, _raise_interrupted)
    except ValueError:  # not the main thread: leave the handlers alone
        for s, h in old.items():
            signal.signal(s, h)
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent exits (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _watch_parent(parent: int) -> None:
    """A worker's guard thread: when the parent is gone, ask the main thread to stop (SIGTERM, so it
    cleans up) and, should it be stuck in native code, end the process after a grace period."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_GRACE_SECONDS)
    os._exit(128 + signal.SIGTERM)


def _guard_worker(parent: int) -> None:
    """What every worker does first: die with the parent, leave SIGINT to it, clean up on SIGTERM/SIGHUP."""
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(128 + signal.SIGTERM)
    _received.clear()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    # multiprocessing lets no daemonic process start children; this one may (run_tasks inside a task),
    # and its children stop with it as it stops with its parent (PR_SET_PDEATHSIG, the guard thread).
    mp.current_process().daemon = False
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)


def _worker(conn: Any, parent: int, fn: Callable[..., Any], args: tuple, mask: Any = None) -> None:
    _guard_worker(parent)
    try:
        _let_signals_through(mask)
        result = ("ok", fn(*args))
    except Interrupted as exc:
        conn.close()
        os._exit(exc.exit_code)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        result = ("error", "".join(traceback.format_exception_only(type(exc), exc)).strip())
    try:
        conn.send(result)
    finally:
        conn.close()


@dataclass
class RunStopped(Exception):
    """A run of tasks stopped before the end: by a signal to the parent or the death of a worker.

    Attributes
    ----------
    signum : the signal (to the parent, or the one that killed a worker)
    finished : indices of the tasks that had finished (their results are in ``results``)
    results : task index -> result, for the finished tasks
    reason : what happened, in words
    """

    signum: int
    finished: list[int] = field(default_factory=list)
    results: dict[int, Any] = field(default_factory=dict)
    reason: str = ""

    def __str__(self) -> str:
        return self.reason

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class TaskError(Exception):
    """A task raised an exception in its worker (the message is the worker's).

    ``str()`` is the exception's one-line text with its type ("ValueError: ..."); ``message`` is
    what ``str()`` of the exception itself gave, where the worker sent it (else the same text).
    """

    def __init__(self, text: str, message: str | None = None):
        super().__init__(text)
        self.message = text if message is None else message


def _stop(running: dict[int, tuple[Any, Any]]) -> None:
    """SIGTERM to every running worker, a grace period to clean up, then SIGKILL."""
    for proc, _ in running.values():
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc, conn in running.values():
        proc.join(_GRACE_SECONDS)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()


def run_tasks(tasks: Sequence[tuple[Callable[..., Any], tuple]], jobs: int,
              on_result: Callable[[int, Any], None] = lambda i, r: None,
              labels: Sequence[str] | None = None) -> list[Any]:
    """Run ``fn(*args)`` for each task in at most ``jobs`` worker processes; results in task order.

    ``labels`` name the tasks in messages (default: "task <i>").

    A task that raises gives a :class:`TaskError` in its result slot (the run goes on).

    Raises
    ------
    RunStopped
        The parent received SIGINT/SIGTERM/SIGHUP, or a worker was killed by a signal: every
        worker has been stopped when it is raised.
    """
    ctx = mp.get_context("fork")
    pending = list(range(len(tasks)))
    running: dict[int, tuple[Any, Any]] = {}
    results: dict[int, Any] = {}
    parent = os.getpid()
    requested: list[int] = []  # a stop signal, noted by the handler and acted on by the loop

    def note(signum: int, frame: Any) -> None:
        requested.append(signum)

    # A signal this process ignores stays ignored: a worker that runs tasks of its own (an analysis
    # fitting each outcome in a child) ignores SIGINT, which the parent of the run decides about.
    old = {s: signal.signal(s, note) for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        while pending or running:
            if requested:
                raise RunStopped(requested[0], sorted(results), dict(results),
                                 f"interrupted by {_signal_name(requested[0])}")
            while pending and len(running) < max(1, jobs):
                i = pending.pop(0)
                fn, args = tasks[i]
                recv, send = ctx.Pipe(duplex=False)
                mask = _hold_stop_signals()
                try:
                    proc = ctx.Process(target=_worker, args=(send, parent, fn, args, mask), daemon=True)
                    proc.start()
                finally:
                    _let_signals_through(mask)
                send.close()
                running[i] = (proc, recv)
            ready = wait([conn for _, conn in running.values()] + [p.sentinel for p, _ in running.values()],
                         timeout=0.25)
            for i, (proc, conn) in list(running.items()):
                if conn not in ready and proc.sentinel not in ready:
                    continue
                message = None
                if conn.poll():
                    try:
                        message = conn.recv()
                    except (EOFError, OSError):
                        message = None
                proc.join()
                conn.close()
                del running[i]
                if message is None:
                    code = proc.exitcode
                    signum = -code if code is not None and code < 0 else (
                        code - 128 if code is not None and code > 128 else signal.SIGTERM)
                    name = labels[i] if labels else f"task {i}"
                    raise RunStopped(signum, sorted(results), dict(results),
                                     f"the worker running {name} was stopped by {_signal_name(signum)} "
                                     "before it finished")
                status, value = message
                results[i] = value if status == "ok" else TaskError(value)
                on_result(i, results[i])
    except RunStopped:
        _stop(running)
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return [results[i] for i in range(len(tasks))]


class Background:
    """One callable running in a forked child process; :meth:`result` waits for what it returned.

    Use it as a context manager: leaving the block before the result was taken (an exception, a
    signal turned into :class:`~bayes_il2.errors.Interrupted`) stops the child (SIGTERM, a grace
    period, SIGKILL) and reaps it. Create it with :func:`start_background`.
    """

    def __init__(self, pid: int, fd: int, label: str, inbox: int | None = None):
        self.pid, self._fd, self.label, self._inbox = pid, fd, label, inbox
        self._done = False  # the result was taken or the child stopped
        self._sender: threading.Thread | None = None  # writing the last send()

    def send(self, obj: Any) -> None:
        """Pickle ``obj`` to the child (its ``receive()`` returns it); see :func:`start_background`.

        The bytes are written by a thread, so the caller goes on while a child still busy (importing,
        drawing) has not read them; sends arrive in order. A child that has already ended is not an
        error here: :meth:`result` tells what happened.
        """
        if self._inbox is None:
            raise RuntimeError(f"{self.label} was started without an inbox")
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        previous, fd = self._sender, os.dup(self._inbox)  # the thread's own descriptor: closed by it

        def write() -> None:
            try:
                if previous is not None:
                    previous.join()
                _write_all(fd, len(data).to_bytes(8, "little") + data)
            except OSError:  # the child ended (BrokenPipeError) or was stopped
                pass
            finally:
                os.close(fd)

        self._sender = threading.Thread(target=write, name=f"send to {self.label}", daemon=True)
        self._sender.start()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def result(self) -> Any:
        """Wait for the child and return its result.

        Raises
        ------
        TaskError
            The callable raised in the child (the message is the exception's one-line text), or the
            child exited without a result.
        Interrupted
            The child was killed by a signal (the exit code tells which, as for a worker of run_tasks).
        """
        if self._done:
            raise RuntimeError(f"the result of {self.label} was already taken")
        import select

        chunks = []
        while True:  # a signal to the parent raises Interrupted here (or is found in _received)
            _check_received()
            if not select.select([self._fd], [], [], 0.1)[0]:
                continue
            chunk = os.read(self._fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        self._close()
        if os.WIFSIGNALED(status) or (os.WIFEXITED(status) and os.WEXITSTATUS(status) > 128):
            signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status) - 128
            raise Interrupted(signum if signum in set(signal.Signals) else signal.SIGTERM)
        if not chunks:
            raise TaskError(f"{self.label}: the process ended (exit code {os.waitstatus_to_exitcode(status)}) "
                            "without a result")
        state, value = pickle.loads(b"".join(chunks))
        if state != "ok":
            raise TaskError(*value)
        return value

    def _close(self) -> None:
        self._done = True
        for name in ("_fd", "_inbox"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                os.close(fd)

    def stop(self) -> None:
        """Stop the child unless its result was taken: SIGTERM, a grace period, SIGKILL; then reap it."""
        if self._done:
            return
        self._close()
        try:
            os.kill(self.pid, signal.SIGTERM)
            end = time.monotonic() + _GRACE_SECONDS
            while time.monotonic() < end:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
                time.sleep(0.01)
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):  # already gone and reaped
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the parent closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def can_fork() -> bool:
    """Whether :func:`start_background` can fork here (POSIX with ``os.fork``)."""
    return hasattr(os, "fork") and hasattr(os, "waitpid")


def start_background(fn: Callable[..., Any], *args: Any, label: str = "background task",
                     inbox: bool = False) -> Background:
    """Fork a child that runs ``fn(*args)`` and sends back its result (pickled) when it is done.

    With ``inbox``, the child runs ``fn(*args, receive)``: each ``receive()`` waits for the next object
    the parent sends with :meth:`Background.send` (data the parent computes after the fork).

    The child is guarded like a worker of :func:`run_tasks` (SIGINT ignored, SIGTERM/SIGHUP clean up,
    SIGTERM when the parent dies). It is a plain ``os.fork`` so that it also works inside a worker of
    :func:`run_tasks` (multiprocessing forbids children of its daemonic processes). Check
    :func:`can_fork` first; where it is False run ``fn`` in the caller.
    """
    import sys

    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    parent = os.getpid()
    read_fd, write_fd = os.pipe()
    inbox_read, inbox_write = os.pipe() if inbox else (None, None)
    mask = _hold_stop_signals()
    try:
        pid = os.fork()
    except BaseException:
        _let_signals_through(mask)
        raise
    if pid:
        _let_signals_through(mask)
        os.close(write_fd)
        if inbox_read is not None:
            os.close(inbox_read)
        return Background(pid, read_fd, label, inbox_write)
    code = 1
    try:  # the child: never returns into the caller's code
        os.close(read_fd)
        if inbox_write is not None:
            os.close(inbox_write)

            def receive() -> Any:
                return pickle.loads(_read_exactly(inbox_read, int.from_bytes(_read_exactly(inbox_read, 8), "little")))

            args = (*args, receive)
        _guard_worker(parent)
        try:
            _let_signals_through(mask)
            message = ("ok", fn(*args))
        except Interrupted as exc:
            code = exc.exit_code
            raise
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            message = ("error", ("".join(traceback.format_exception_only(type(exc), exc)).strip(), str(exc)))
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
        code = 0
    except BaseException:  # noqa: BLE001 - the exit code tells the parent
        pass
    finally:
        os._exit(code)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
