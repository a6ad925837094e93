"""Declarative simulation studies: one TOML file per study with a top-level ``[simulation]`` table
(``models/sim_small_k.toml``; ``bayes-il2 run`` skips such files).

A study says which scenarios to simulate (a grid over the number of studies k, the true
heterogeneity tau, the within-study size n, the outcome type, the design mix and the reporting
degradation), which methods to run on every simulated data set, how many replicates per scenario,
and the root seed. It is validated on load; every problem names the file, the key and the allowed
values (as :mod:`bayes_il2.specs` does for analysis specs). Schema: ``models/README.md``.
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bayes_il2.errors import SpecError

OUTCOMES = ("continuous", "binary")
REPORTING = ("complete", "bounds", "missing_sd", "pvalue_only")
METHOD_KINDS = ("exact_nnhm", "mcmc_nnhm", "reml_hksj")
#: Keys each method kind accepts besides ``name`` and ``kind``.
METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "exact_nnhm": ("tau_prior", "mu_prior"),
    "mcmc_nnhm": ("tau_prior", "mu_prior", "draws", "tune", "chains", "target_accept"),
    "reml_hksj": (),
}


@dataclass(frozen=True)
class ScenarioGrid:
    """The scenario grid: every combination of the list-valued keys is one scenario (cell)."""

    k: tuple[int, ...] = (3, 5, 10)
    tau: tuple[float, ...] = (0.0, 0.3)
    n: tuple[int, ...] = (60,)
    outcome: tuple[str, ...] = ("continuous",)
    design_mix: tuple[float, ...] = (0.0,)
    reporting: tuple[str, ...] = ("complete",)
    mu: float = 0.3
    degraded_fraction: float = 0.5
    baseline_risk: float = 0.3
    prepost_r: float = 0.5


@dataclass(frozen=True)
class MethodSpec:
    """One method run on every simulated data set."""

    name: str
    kind: str
    tau_prior: dict[str, Any] | None = None
    mu_prior: dict[str, Any] | None = None
    draws: int = 500
    tune: int = 500
    chains: int = 2
    target_accept: float = 0.9


@dataclass(frozen=True)
class SimulationSpec:
    """A validated simulation study (one TOML file)."""

    name: str
    title: str
    question: str
    scenarios: ScenarioGrid
    methods: tuple[MethodSpec, ...]
    replicates: int = 200
    chunk_size: int = 50
    seed: int = 20261204
    level: float = 0.95
    source: str = field(default="<memory>", compare=False)

    def fingerprint(self) -> str:
        """sha256 of everything that determines the results (not the file name)."""
        payload = {k: v for k, v in asdict(self).items() if k != "source"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _err(source: str, key: str, message: str) -> SpecError:
    return SpecError(f"{source}: key '{key}': {message}")


def _number(source: str, key: str, value: Any, *, integer: bool = False) -> float | int:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise _err(source, key, f"expected {kind}, got {type(value).__name__} ({value!r})")
    return int(value) if integer else float(value)


def _string(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _err(source, key, f"expected a string, got {type(value).__name__} ({value!r})")
    return value


def _choice(source: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _err(source, key, f"{value!r} is not allowed; allowed values: {', '.join(allowed)}")
    return value


def _list(source: str, key: str, value: Any) -> list[Any]:
    value = value if isinstance(value, list) else [value]
    if not value:
        raise _err(source, key, "needs at least one value")
    return value


def _unknown(source: str, section: str, raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(raw) - set(allowed))
    if extra:
        raise _err(source, f"{section}.{extra[0]}" if section else extra[0],
                   f"unknown key; allowed keys{f' in [{section}]' if section else ''}: {', '.join(sorted(allowed))}")


def _table(source: str, key: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _err(source, key, f"expected a table, got {type(raw).__name__}")
    return raw


def _parse_grid(source: str, raw: dict[str, Any]) -> ScenarioGrid:
    allowed = tuple(ScenarioGrid.__dataclass_fields__)
    _unknown(source, "scenarios", raw, allowed)
    d = ScenarioGrid()
    key = "scenarios.{}".format
    k = tuple(_number(source, key("k"), v, integer=True) for v in _list(source, key("k"), raw.get("k", list(d.k))))
    if any(v < 2 for v in k):
        raise _err(source, key("k"), f"every k must be >= 2 studies, got {list(k)}")
    tau = tuple(_number(source, key("tau"), v) for v in _list(source, key("tau"), raw.get("tau", list(d.tau))))
    if any(v < 0 for v in tau):
        raise _err(source, key("tau"), f"true heterogeneities must be >= 0, got {list(tau)}")
    n = tuple(_number(source, key("n"), v, integer=True) for v in _list(source, key("n"), raw.get("n", list(d.n))))
    if any(v < 4 for v in n):
        raise _err(source, key("n"), f"patients per study must be >= 4 (two per arm), got {list(n)}")
    outcome = tuple(_choice(source, key("outcome"), v, OUTCOMES)
                    for v in _list(source, key("outcome"), raw.get("outcome", list(d.outcome))))
    mix = tuple(_number(source, key("design_mix"), v)
                for v in _list(source, key("design_mix"), raw.get("design_mix", list(d.design_mix))))
    if any(not 0.0 <= v <= 1.0 for v in mix):
        raise _err(source, key("design_mix"), f"shares of single-arm studies must lie in [0, 1], got {list(mix)}")
    reporting = tuple(_choice(source, key("reporting"), v, REPORTING)
                      for v in _list(source, key("reporting"), raw.get("reporting", list(d.reporting))))
    mu = _number(source, key("mu"), raw.get("mu", d.mu))
    frac = _number(source, key("degraded_fraction"), raw.get("degraded_fraction", d.degraded_fraction))
    if not 0.0 <= frac < 1.0:
        raise _err(source, key("degraded_fraction"), f"must lie in [0, 1) (one study keeps full reporting), got {frac}")
    risk = _number(source, key("baseline_risk"), raw.get("baseline_risk", d.baseline_risk))
    if not 0.0 < risk < 1.0:
        raise _err(source, key("baseline_risk"), f"must lie strictly between 0 and 1, got {risk}")
    r = _number(source, key("prepost_r"), raw.get("prepost_r", d.prepost_r))
    if not -1.0 < r < 1.0:
        raise _err(source, key("prepost_r"), f"must lie strictly between -1 and 1, got {r}")
    if "binary" in outcome and (any(v != "complete" for v in reporting) or any(v > 0 for v in mix)):
        raise _err(source, key("outcome"), "binary outcomes are simulated as complete two-arm counts only: "
                   "use reporting = ['complete'] and design_mix = [0] (or a separate study)")
    return ScenarioGrid(k=k, tau=tau, n=n, outcome=outcome, design_mix=mix, reporting=reporting, mu=mu,
                        degraded_fraction=frac, baseline_risk=risk, prepost_r=r)


def _parse_method(source: str, index: int, raw: Any) -> MethodSpec:
    where = f"methods[{index}]"
    raw = _table(source, where, raw)
    for req in ("name", "kind"):
        if req not in raw:
            raise _err(source, f"{where}.{req}", "required key is missing")
    name = _string(source, f"{where}.name", raw["name"])
    if not name.replace("_", "").replace("-", "").isalnum():
        raise _err(source, f"{where}.name", "use letters, digits, '_' or '-' only")
    kind = _choice(source, f"{where}.kind", raw["kind"], METHOD_KINDS)
    _unknown(source, where, raw, ("name", "kind", *METHOD_KEYS[kind]))
    values: dict[str, Any] = {"name": name, "kind": kind}
    from bayes_il2.priors import prior_from_spec

    for key in ("tau_prior", "mu_prior"):
        if key in raw:
            table = _table(source, f"{where}.{key}", raw[key])
            try:
                prior_from_spec(table)
            except SpecError as exc:
                raise _err(source, f"{where}.{key}", str(exc)) from None
            values[key] = dict(table)
    if kind in ("exact_nnhm", "mcmc_nnhm") and "tau_prior" not in values:
        raise _err(source, f"{where}.tau_prior", "required for a Bayesian method, e.g. "
                   "{ family = 'half_normal', scale = 0.5 } or { family = 'turner', outcome_type = 'marginal' }")
    for key in ("draws", "tune", "chains"):
        if key in raw:
            values[key] = _number(source, f"{where}.{key}", raw[key], integer=True)
            if values[key] < (0 if key == "tune" else 1):
                raise _err(source, f"{where}.{key}", f"must be >= {0 if key == 'tune' else 1}")
    if "target_accept" in raw:
        values["target_accept"] = _number(source, f"{where}.target_accept", raw["target_accept"])
        if not 0.5 <= values["target_accept"] < 1.0:
            raise _err(source, f"{where}.target_accept", "must lie in [0.5, 1)")
    return MethodSpec(**values)


def parse_simulation_spec(raw: dict[str, Any], source: str = "<memory>") -> SimulationSpec:
    """Validate a parsed TOML simulation study and build a :class:`SimulationSpec`.

    Raises
    ------
    SpecError
        Unknown keys, wrong types, values outside their vocabularies or ranges; the message names
        the source, the key and the allowed values.
    """
    _unknown(source, "", raw, ("simulation", "scenarios", "methods"))
    if "simulation" not in raw:
        raise _err(source, "simulation", "required table [simulation] with name, title, question is missing")
    head = _table(source, "simulation", raw["simulation"])
    _unknown(source, "simulation", head, ("name", "title", "question", "replicates", "chunk_size", "seed", "level"))
    for key in ("name", "title", "question"):
        if key not in head:
            raise _err(source, f"simulation.{key}", "required key is missing")
        _string(source, f"simulation.{key}", head[key])
    if not head["name"].replace("_", "").replace("-", "").isalnum():
        raise _err(source, "simulation.name", "use letters, digits, '_' or '-' only (it names the results folder)")
    d = SimulationSpec("", "", "", ScenarioGrid(), ())
    replicates = _number(source, "simulation.replicates", head.get("replicates", d.replicates), integer=True)
    chunk = _number(source, "simulation.chunk_size", head.get("chunk_size", d.chunk_size), integer=True)
    seed = _number(source, "simulation.seed", head.get("seed", d.seed), integer=True)
    level = _number(source, "simulation.level", head.get("level", d.level))
    if replicates < 2:
        raise _err(source, "simulation.replicates", f"must be >= 2 (Monte-Carlo SEs need two), got {replicates}")
    if chunk < 1:
        raise _err(source, "simulation.chunk_size", f"must be >= 1, got {chunk}")
    if seed < 0:
        raise _err(source, "simulation.seed", f"must be >= 0 (a numpy SeedSequence entropy), got {seed}")
    if not 0.0 < level < 1.0:
        raise _err(source, "simulation.level", f"must lie strictly between 0 and 1, got {level}")
    grid = _parse_grid(source, _table(source, "scenarios", raw.get("scenarios", {})))
    raw_methods = raw.get("methods")
    if not isinstance(raw_methods, list) or not raw_methods:
        raise _err(source, "methods", "at least one [[methods]] table with name and kind is required; "
                   f"kinds: {', '.join(METHOD_KINDS)}")
    methods = tuple(_parse_method(source, i, m) for i, m in enumerate(raw_methods))
    names = [m.name for m in methods]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise _err(source, "methods", f"method names must be unique; {dup[0]!r} appears twice")
    return SimulationSpec(name=head["name"], title=head["title"], question=head["question"], scenarios=grid,
                          methods=methods, replicates=replicates, chunk_size=chunk, seed=seed, level=level,
                          source=source)


def is_simulation_file(path: str | Path) -> bool:
    """True when a TOML file has a top-level ``[simulation]`` table (it is not an analysis spec)."""
    try:
        return "simulation" in tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def load_simulation_spec(path: str | Path) -> SimulationSpec:
    """Read and validate one TOML simulation study.

    Raises
    ------
    SpecError
        Missing file, invalid TOML or a schema violation (naming the file and key).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: simulation spec file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, not a simulation spec file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None
    return parse_simulation_spec(raw, source=str(path))
