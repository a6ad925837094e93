"""Worker-side set-up of the embedded Dask cluster (imported only when a cluster starts: it needs distributed)."""
from __future__ import annotations

import signal
import threading
from typing import Any

from distributed import WorkerPlugin


class IgnoreInterrupts(WorkerPlugin):
    """The worker processes of the embedded cluster ignore SIGINT.

    Ctrl-C in a terminal reaches the whole process group; the driver alone handles it and shuts the
    cluster down in order (workers interrupted on their own print tracebacks)."""

    def setup(self, worker: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
