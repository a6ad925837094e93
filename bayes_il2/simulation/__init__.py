"""Simulation studies on a chunked, checkpointed runner (in-process or Dask.distributed).

``load_simulation_spec`` reads a study (TOML), ``run_study`` runs it, ``write_outputs`` writes its
table, summary, plots and page; ``run_chunks`` is the loop shared with simulation-based
calibration (:mod:`bayes_il2.modeling.calibration`).
"""
from __future__ import annotations

from bayes_il2.simulation.metrics import performance, summarize
from bayes_il2.simulation.methods import MethodResult, method_kinds, register
from bayes_il2.runner import Chunk, ClusterError, dask_client, run_chunks
from bayes_il2.simulation.spec import SimulationSpec, load_simulation_spec, parse_simulation_spec
from bayes_il2.simulation.study import run_study

__all__ = ["Chunk", "ClusterError", "MethodResult", "SimulationSpec", "dask_client", "load_simulation_spec",
           "method_kinds", "parse_simulation_spec", "performance", "register", "run_chunks", "run_study",
           "summarize"]
