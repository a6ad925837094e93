"""Where the registry lives when no directory is given."""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming another registry directory.
DATA_ENV = "BAYES_IL2_DATA"


def default_data_dir() -> Path:
    """The registry directory used when none is given.

    ``$BAYES_IL2_DATA`` if set, else the ``data/`` directory of the source tree this package lives in.
    """
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "data"
