"""Benchmark section ``answers``: the commands a user types, before and after issue #19, in one run.

"Before" is today's path with the two changes turned off: the answer by MCMC (``fit --mcmc``) and
nutpie compiling its callbacks in every process (``BAYES_IL2_COMPILE_CACHE=0``). "After" is the
default: the exact engine where it applies, the on-disk compile cache elsewhere, and leave-one-out
influence by importance sampling. Every command is a fresh process, timed wall-clock with its peak
memory summed over the process and its children, sampled every 0.1 s: RSS (a page that forked
processes share counts once per process) and PSS (each shared page divided among its sharers: what
the tree holds). "Empty cache" runs get new,
empty PyTensor, numba and bayes_il2 cache directories.

Data: BCG vaccine trials (Colditz et al. 1994, JAMA 271:698-702; metafor's dat.bcg), 13 two-arm
trials in ``benchmarks/data/bcg.csv``; the yi/vi table is the log risk ratio and its variance
computed from those counts by ``bayes_il2.effects.log_risk_ratio``.
"""
from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BCG = HERE / "data" / "bcg.csv"
BRMS_BCG_SECONDS = 41.0  # issue #19: brms on BCG, as recorded there (brms is not installed here)


def bcg_effects(path: Path) -> Path:
    """Write the BCG log risk ratios (yi, vi) next to ``path``; returns it."""
    from bayes_il2.effects import log_risk_ratio

    counts = pd.read_csv(BCG)
    yi, vi = log_risk_ratio(counts["events_t"], counts["n_t"], counts["events_c"], counts["n_c"])
    pd.DataFrame({"study_id": counts["study"], "yi": yi, "vi": vi}).to_csv(path, index=False)
    return path


class Measured(NamedTuple):
    """One command: wall seconds and the peaks, sampled every 0.1 s, of its process tree's memory."""

    seconds: float
    peak_rss_mib: float  # RSS summed over the tree: pages a forked child shares count once per process
    peak_pss_mib: float  # proportional set size summed: each shared page divided among its sharers (NaN
    # where the system does not report it)


def run_command(argv: list[str], env: dict[str, str]) -> Measured:
    """Wall seconds and peak RSS and PSS (MiB, process tree) of one CLI command."""
    import psutil

    start = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-m", "bayes_il2.cli", *argv], env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE, cwd=ROOT)
    peak_rss = peak_pss = 0.0
    has_pss = True
    while proc.poll() is None:
        try:
            family = [p for p in (proc, *proc.children(recursive=True)) if p.is_running()]
            memory = [p.memory_full_info() for p in family]
            peak_rss = max(peak_rss, sum(m.rss for m in memory))
            has_pss = has_pss and all(hasattr(m, "pss") for m in memory)
            if has_pss:
                peak_pss = max(peak_pss, sum(m.pss for m in memory))
        except psutil.Error:  # a process ended between the listing and the reading
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{argv} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    return Measured(seconds, peak_rss / 2**20, peak_pss / 2**20 if has_pss else math.nan)


def _env(cache: Path, *, before: bool) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg", PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'}",
               NUMBA_CACHE_DIR=str(cache / "numba"), BAYES_IL2_CACHE_DIR=str(cache / "bayes_il2"))
    if before:
        env["BAYES_IL2_COMPILE_CACHE"] = "0"
    return env


def _measure(label: str, argv: list[str], repeats: int, *, before: bool, empty: bool, shared: Path,
             tmp: Path) -> dict:
    runs = [run_command(argv, _env(tmp / f"empty-{label}-{i}" if empty else shared, before=before))
            for i in range(repeats)]
    return {"seconds": [r.seconds for r in runs], "peak": max(r.peak_rss_mib for r in runs),
            "peak_pss": max(r.peak_pss_mib for r in runs)}


def bench_answers(quick: bool = False) -> tuple[pd.DataFrame, str]:
    """Rows: command, variant, cache, wall seconds (median, min-max, n), peak RSS; and notes."""
    n_warm = 2 if quick else 3
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        effects = bcg_effects(tmp / "bcg_logrr.csv")
        warm_cache = tmp / "warm"
        fit_yivi = ["fit", str(effects), "--measure", "RR", "--out", str(tmp / "o" / "bcg"), "--quiet"]
        fit_counts = ["fit", "--counts", str(BCG), "--out", str(tmp / "o" / "bcg_counts"), "--quiet"]
        # --force: every analysis recomputed (a second run with unchanged inputs keeps them: its own row)
        run_all = ["run", "--out", str(tmp / "o" / "results"), "--quiet", "--no-report", "--force"]
        run_kept = ["run", "--out", str(tmp / "o" / "results"), "--quiet", "--no-report"]
        plan = [
            ("fit BCG yi/vi", "before (--mcmc, no disk cache)", [*fit_yivi, "--mcmc"], True),
            ("fit BCG yi/vi", "after (exact engine)", fit_yivi, False),
            ("fit --counts BCG", "before (no disk cache)", fit_counts, True),
            ("fit --counts BCG", "after (disk compile cache, PSIS influence)", fit_counts, False),
            ("run all bundled specs", "before (no disk cache)", run_all, True),
            ("run all bundled specs", "after", run_all, False),
            ("run all bundled specs", "unchanged inputs (every analysis kept)", run_kept, False),
        ]
        # populate the warm caches once (not timed): PyTensor's for both variants, bayes_il2's for after
        for _, _, argv, before in plan:
            run_command(argv, _env(warm_cache, before=before))
        for command, variant, argv, before in plan:
            reps = 1 if command.startswith("run") else n_warm
            m = _measure(command, argv, reps, before=before, empty=False, shared=warm_cache, tmp=tmp)
            rows.append({"command": command, "variant": variant, "caches": "warm", **m})
        for command, variant, argv, before in plan[:4]:
            m = _measure(command + variant, argv, 1, before=before, empty=True, shared=warm_cache, tmp=tmp)
            rows.append({"command": command, "variant": variant, "caches": "empty", **m})
    frame = pd.DataFrame([{
        "command": r["command"], "variant": r["variant"], "caches": r["caches"],
        "wall_s": f"{statistics.median(r['seconds']):.2f} ({min(r['seconds']):.2f}-{max(r['seconds']):.2f}, "
                  f"n={len(r['seconds'])})",
        "median_s": statistics.median(r["seconds"]), "peak_rss_MiB": round(r["peak"]),
        "peak_pss_MiB": round(r["peak_pss"]) if math.isfinite(r["peak_pss"]) else math.nan} for r in rows])
    return frame


def markdown(frame: pd.DataFrame, table: str) -> str:
    """The section body: the table, the targets of issue #19 with met / not met, the ratios."""
    def t(command: str, variant_start: str, caches: str) -> float:
        hit = frame[(frame["command"] == command) & frame["variant"].str.startswith(variant_start)
                    & (frame["caches"] == caches)]
        return float(hit["median_s"].iloc[0]) if len(hit) else float("nan")

    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    yivi_warm, yivi_empty = t("fit BCG yi/vi", "after", "warm"), t("fit BCG yi/vi", "after", "empty")
    counts_warm = t("fit --counts BCG", "after", "warm")
    run_warm = t("run all bundled specs", "after", "warm")
    after = frame["variant"].str.startswith("after")
    peak, peak_pss = int(frame["peak_rss_MiB"][after].max()), float(frame["peak_pss_MiB"][after].max())
    lines = [table, "",
             f"- `fit` on BCG yi/vi with full diagnostics: {yivi_warm:.2f} s warm (target <= 2 s: {met(yivi_warm <= 2)}), "
             f"{yivi_empty:.2f} s on empty caches (target <= 6 s: {met(yivi_empty <= 6)}); "
             f"{t('fit BCG yi/vi', 'before', 'warm') / yivi_warm:.1f}x faster than before; "
             f"brms's recorded 41 s on BCG / this = {BRMS_BCG_SECONDS / yivi_warm:.0f}x.",
             f"- `fit --counts` on BCG: {counts_warm:.2f} s warm (target <= 8 s: {met(counts_warm <= 8)}); "
             f"{t('fit --counts BCG', 'before', 'warm') / counts_warm:.1f}x faster than before; "
             f"empty caches {t('fit --counts BCG', 'after', 'empty'):.1f} s; brms 41 s / this = "
             f"{BRMS_BCG_SECONDS / counts_warm:.1f}x.",
             f"- warm `bayes-il2 run` of all bundled specs, every analysis recomputed: {run_warm:.1f} s "
             f"(target <= 20 s: {met(run_warm <= 20)}); before {t('run all bundled specs', 'before', 'warm'):.1f} s; "
             f"with unchanged inputs (every analysis up to date and kept) "
             f"{t('run all bundled specs', 'unchanged', 'warm'):.1f} s.",
             f"- peak memory of any command after the change, summed over its process tree: RSS {peak} MiB "
             f"(pages shared by forked processes counted once per process), PSS {peak_pss:.0f} MiB (shared "
             f"pages divided among their sharers; target <= 600 MB: {met(peak_pss * 1.048576 <= 600)})."]
    return "\n".join(lines)
