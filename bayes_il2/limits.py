"""Range rules for everything a user gives: sampler settings and effect values.

One place, so that the command line, the TOML specs and the Python API apply the same rules and
reject bad values before any model is compiled. Each function returns the problems it finds as
``(key, message)`` pairs; callers wrap them in their own error type (SpecError naming the spec file
and key, ModelError naming the argument, a Problem naming the CSV row).
"""
from __future__ import annotations

import math
from typing import Any

#: Seeds are unsigned 32-bit integers (numpy's SeedSequence takes more, nutpie's Rust side does not).
SEED_MAX = 2 ** 32 - 1
#: Bounds that keep a run finite in memory and time; beyond them a typo is far likelier than intent.
MAX_DRAWS = 1_000_000
MAX_CHAINS = 64
MAX_JOBS = 256
TARGET_ACCEPT = (0.5, 1.0)
#: Effect sizes and sampling variances a double-precision sampler handles: |yi| and the standard
#: errors sqrt(vi) within twelve orders of magnitude of each other around 1 (beyond that the
#: gradients overflow or the posterior of a study collapses to a point; the sampler crashes or
#: reports constant draws).
YI_MAX = 1e6
VI_MIN = 1e-12
VI_MAX = 1e12


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sampler_problems(*, draws: Any = None, tune: Any = None, chains: Any = None, seed: Any = None,
                     target_accept: Any = None, jobs: Any = None) -> list[tuple[str, str]]:
    """Problems with sampler settings (``None`` = not given, not checked)."""
    out: list[tuple[str, str]] = []

    def whole(key: str, value: Any, low: int, high: int) -> None:
        if value is None:
            return
        if not _is_int(value):
            out.append((key, f"must be a whole number, got {value!r}"))
        elif not low <= value <= high:
            out.append((key, f"must lie in [{low}, {high}], got {value}"))

    whole("draws", draws, 1, MAX_DRAWS)
    whole("tune", tune, 0, MAX_DRAWS)
    whole("chains", chains, 1, MAX_CHAINS)
    whole("seed", seed, 0, SEED_MAX)
    whole("jobs", jobs, 1, MAX_JOBS)
    if target_accept is not None:
        low, high = TARGET_ACCEPT
        if isinstance(target_accept, bool) or not isinstance(target_accept, (int, float)) \
                or not low <= float(target_accept) < high:
            out.append(("target_accept", f"must lie in [{low}, {high}), got {target_accept!r}"))
    return out


def effect_problem(yi: float, vi: float) -> str | None:
    """Why an effect (yi, vi) cannot be fitted, or None: both finite, vi > 0, both in range."""
    if not math.isfinite(yi):
        return f"yi must be a finite number, got {yi!r}"
    if not math.isfinite(vi) or vi <= 0:
        return f"vi must be a finite number > 0, got {vi!r}"
    if abs(yi) > YI_MAX:
        return f"|yi| = {abs(yi):.3g} exceeds {YI_MAX:g}: rescale the effect (e.g. other units)"
    if not VI_MIN <= vi <= VI_MAX:
        return f"vi = {vi:.3g} lies outside [{VI_MIN:g}, {VI_MAX:g}]: rescale the effect (e.g. other units)"
    return None
