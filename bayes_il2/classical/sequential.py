"""Leave-one-out and cumulative meta-analysis: ``rma`` refitted on subsets, one row per subset.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis. Res Synth
Methods 1:112-125 (leave-one-out).
Lau J, Antman EM, Jimenez-Silva J, et al. (1992). Cumulative meta-analysis of therapeutic trials for
myocardial infarction. N Engl J Med 327:248-254 (cumulative, in order of publication).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.classical._inputs import check_effects
from bayes_il2.classical.rma import rma
from bayes_il2.errors import ModelError


def _labels(labels: Sequence[Any] | None, k: int, who: str) -> list[str]:
    out = [str(i + 1) for i in range(k)] if labels is None else [str(x) for x in labels]
    if len(out) != k:
        raise ModelError(f"{who}: {len(out)} labels for {k} studies")
    return out


def leave1out(yi: Any, vi: Any, labels: Sequence[Any] | None = None, method: str = "REML", test: str = "z",
              level: float = 0.95) -> pd.DataFrame:
    """``rma`` without each study in turn: one row per left-out study (column ``left_out``).

    Needs k >= 3 (two studies must remain for a random-effects fit).
    """
    y, v = check_effects(yi, vi, "leave1out", min_k=3)
    names = _labels(labels, y.size, "leave1out")
    rows = []
    for i in range(y.size):
        keep = np.arange(y.size) != i
        rows.append(rma(y[keep], v[keep], method=method, test=test, level=level).to_frame()
                    .assign(left_out=names[i]))
    return pd.concat(rows, ignore_index=True)


def cumulative(yi: Any, vi: Any, order: Sequence[Any] | None = None, labels: Sequence[Any] | None = None,
               method: str = "REML", test: str = "z", level: float = 0.95) -> pd.DataFrame:
    """``rma`` on the first 1, 2, ..., k studies sorted by ``order`` (e.g. publication year; stable, so
    ties keep their input order). Column ``added`` names the study that entered at each step; the
    first step (one study) is the common-effect restatement of that study (tau^2 undefined).
    """
    y, v = check_effects(yi, vi, "cumulative", min_k=2)
    names = _labels(labels, y.size, "cumulative")
    if order is None:
        idx = np.arange(y.size)
    else:
        key = np.asarray(order)
        if key.shape[0] != y.size:
            raise ModelError(f"cumulative: order has {key.shape[0]} values for {y.size} studies")
        idx = np.argsort(key, kind="stable")
    rows = []
    for step in range(1, y.size + 1):
        use = idx[:step]
        fit = rma(y[use], v[use], method="EE" if step == 1 else method, test="z" if step == 1 else test,
                  level=level)
        rows.append(fit.to_frame().assign(added=names[idx[step - 1]]))
    return pd.concat(rows, ignore_index=True)
