"""Declarative analysis specs: one TOML file per analysis under ``models/``.

A spec says what question an analysis answers, which registry rows it uses, which model and
priors it fits, how to sample, and which sensitivity analyses and figures to produce. It is
validated on load against the schema below; every problem names the file, the key and the
allowed values. See ``models/README.md`` for the documented schema with examples.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bayes_il2.errors import SpecError
from bayes_il2.limits import sampler_problems

#: What an analysis is built from (the registry-to-effects route).
DATA_KINDS = ("treg_expansion", "treg_partial", "event_rate", "event_contrast", "reanalysis", "user_effects")
#: Model families and the data kinds each accepts.
FAMILY_DATA = {
    "nnhm": ("treg_expansion", "treg_partial", "user_effects"),
    "three_level": ("treg_expansion", "treg_partial", "user_effects"),
    "exnex": ("treg_expansion", "user_effects"),
    "design_bias": ("treg_expansion", "user_effects"),
    "exnex_rate": ("event_rate",),
    "design_bias_rate": ("event_rate",),
    "single_arm": ("event_rate",),
    "binomial_normal": ("event_contrast",),
    "reanalysis": ("reanalysis",),
}
MEASURES = ("ROMC", "SMCR", "SMCC", "MC", "ROM", "SMD", "MD", "OR", "RR", "RD", "PLO", "PR", "PAS", "GEN", "IRLN")
#: Exposure models of single-arm event rates (bayes_il2.modeling.single_arm.EXPOSURES).
EXPOSURES = ("none", "cloglog")
SAMPLERS = ("nutpie", "pymc")
SENSITIVITY_KINDS = ("tau_prior", "prepost_r", "exclude_designs", "exclude_studies", "leave_one_out",
                     "skewed_summaries", "exclude_flagged", "exclude_possible_overlap", "complete_only",
                     "qualitative_assumption", "aggregates")
#: Severities an ``exclude_flagged`` scenario may name (bayes_il2.evidence.consistency.SEVERITIES).
FLAG_SEVERITIES = ("error", "warning")
#: Data kinds built from the registry's Treg rows (prepost_r and skewed apply to both).
TREG_KINDS = ("treg_expansion", "treg_partial")
#: [data] options of kind treg_partial (the same as bayes_il2.effects.partial's policies).
QUALITATIVE_POLICIES = ("exclude", "p_lt_0.05")
OVERLAP_POLICIES = ("drop", "keep")
PARTIAL_MEASURES = ("ROMC", "SMCR", "SMCC")
#: Policies for skewed median summaries (the same as bayes_il2.effects.registry.SKEWED_POLICIES).
SKEWED_POLICIES = ("keep", "exclude", "lognormal")
FIGURES = ("forest", "forest_by_design", "parameter_forest", "tau_posterior", "mu_prior_posterior", "ppc", "pareto_k",
           "influence", "prior_sensitivity", "reanalysis_densities", "exceedance", "funnel")
PARAMETERIZATIONS = ("noncentered", "centered")
REANALYSIS_PRIORS = ("skeptical", "neutral", "enthusiastic", "map", "map_robust", "flat")


@dataclass(frozen=True)
class DataSpec:
    """Which registry rows and which effect measure."""

    kind: str = "treg_expansion"
    outcome: str | None = None
    measure: str = "ROMC"
    prepost_r: float = 0.5
    skewed: str = "keep"
    qualitative: str = "exclude"
    overlap: str = "drop"
    aggregates: bool = True
    outcomes: tuple[str, ...] = ()
    study: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class FilterSpec:
    """Inclusion filters applied to the effect table (empty = no restriction)."""

    diseases: tuple[str, ...] = ()
    designs: tuple[str, ...] = ()
    exclude_studies: tuple[str, ...] = ()
    dose_min_miu: float | None = None
    dose_max_miu: float | None = None
    include_duplicates: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """Model family and its options."""

    family: str = "nnhm"
    parameterization: str = "noncentered"
    covariates: tuple[str, ...] = ()
    standardize_covariates: bool = True
    exposure: str = "none"
    p_exch: float = 0.5            # exnex: prior probability that a disease is exchangeable, in (0, 1]
    design_adjustment: str = "bias"  # design_bias: "bias" (additive bias of weaker designs) or "power"
    bias_sd: float = 0.5           # design_bias(_rate): prior SD of a weaker design's mean bias (model scale)
    bias_spread: float = 0.25      # design_bias(_rate): HalfNormal scale of the bias's extra study-to-study SD
    power_alpha: float = 0.5       # design_bias, power: likelihood weight of weaker designs, in (0, 1]

    def family_options(self) -> dict[str, Any]:
        """The builder options of this family (passed to :func:`bayes_il2.api.meta_analysis`)."""
        if self.family in ("exnex", "exnex_rate"):
            return {"p_exch": self.p_exch}
        if self.family == "design_bias":
            return {"design_adjustment": self.design_adjustment, "bias_sd": self.bias_sd,
                    "bias_spread": self.bias_spread, "power_alpha": self.power_alpha}
        if self.family == "design_bias_rate":
            return {"bias_sd": self.bias_sd, "bias_spread": self.bias_spread}
        return {}


@dataclass(frozen=True)
class SamplerSpec:
    """Sampler settings; CLI options override them."""

    sampler: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20221110
    target_accept: float = 0.9
    progressbar: bool = False  # nutpie's per-chain progress display (the CLI turns it on in a terminal)
    engine: str = "auto"  # auto | exact | mcmc (bayes_il2.engine: exact where it applies)


@dataclass(frozen=True)
class SensitivitySpec:
    """One sensitivity analysis: a kind and the values it runs over."""

    name: str
    kind: str
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ReanalysisSpec:
    """Options of a trial reanalysis (family ``reanalysis``)."""

    priors: tuple[str, ...] = ("skeptical", "neutral", "enthusiastic", "map_robust")
    clinically_important_or: float = 2.0
    mcid_vas: float = 10.0
    robust_weight: float = 0.2
    map_studies: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnalysisSpec:
    """A validated analysis spec (one ``models/*.toml`` file)."""

    name: str
    title: str
    question: str
    data: DataSpec = field(default_factory=DataSpec)
    filters: FilterSpec = field(default_factory=FilterSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    sensitivity: tuple[SensitivitySpec, ...] = ()
    reanalysis: ReanalysisSpec | None = None
    figures: tuple[str, ...] = ("forest",)
    source: str = "<memory>"

    def with_sampler(self, **overrides: Any) -> "AnalysisSpec":
        """Return a copy with sampler settings replaced (``None`` values are ignored).

        Raises SpecError when a value is out of range (:func:`bayes_il2.limits.sampler_problems`).
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        checked = {k: v for k, v in given.items() if k in ("draws", "tune", "chains", "seed", "target_accept")}
        for key, message in sampler_problems(**checked):
            raise SpecError(f"{self.source}: sampler setting '{key}' (command-line override): {message}")
        return replace(self, sampler=replace(self.sampler, **given)) if given else self


_TOP_KEYS = {"name", "title", "question", "data", "filters", "model", "priors", "sampler",
             "sensitivity", "reanalysis", "figures"}
_SECTIONS = {"data": DataSpec, "filters": FilterSpec, "model": ModelSpec, "sampler": SamplerSpec,
             "reanalysis": ReanalysisSpec}


def _partial_options(source: str, data: DataSpec) -> None:
    """[data] qualitative / overlap / aggregates: valid values, and only with kind treg_partial."""
    _choice(source, "data.qualitative", data.qualitative, QUALITATIVE_POLICIES)
    _choice(source, "data.overlap", data.overlap, OVERLAP_POLICIES)
    _expect_type(source, "data.aggregates", data.aggregates, bool)
    if data.kind == "treg_partial":
        _choice(source, "data.measure", data.measure, PARTIAL_MEASURES)
        return
    for key, default in (("qualitative", "exclude"), ("overlap", "drop"), ("aggregates", True)):
        if getattr(data, key) != default:
            raise _err(source, f"data.{key}", "applies to data.kind 'treg_partial' only (partially reported Treg "
                                              "results)")


def _prior_table(source: str, key: str, text: str) -> dict[str, Any]:
    """The spec table of a prior written as a string (:func:`bayes_il2.priors.parse_prior`)."""
    from bayes_il2.priors import parse_prior

    try:
        return parse_prior(text).to_dict()
    except SpecError as exc:
        raise _err(source, f"priors.{key}", str(exc)) from None


def _err(source: str, key: str, message: str) -> SpecError:
    return SpecError(f"{source}: key '{key}': {message}")


def _expect_type(source: str, key: str, value: Any, kind: type | tuple[type, ...]) -> None:
    # bool is an int in Python; a spec author writing `draws = true` made a mistake.
    if isinstance(value, bool) and kind not in (bool, (bool,)):
        raise _err(source, key, f"expected {_type_name(kind)}, got a boolean ({value!r})")
    if not isinstance(value, kind):
        raise _err(source, key, f"expected {_type_name(kind)}, got {type(value).__name__} ({value!r})")


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false",
             list: "a list", tuple: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _choice(source: str, key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _err(source, key, f"{value!r} is not allowed; allowed values: {', '.join(allowed)}")


def _section(source: str, name: str, raw: Any, cls: type) -> Any:
    if not isinstance(raw, dict):
        raise _err(source, name, f"expected a table [{name}], got {type(raw).__name__}")
    allowed = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise _err(source, f"{name}.{unknown[0]}",
                   f"unknown key; allowed keys in [{name}]: {', '.join(sorted(allowed))}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = getattr(cls(), key) if key != "name" else None
        full = f"{name}.{key}"
        if isinstance(default, tuple):
            _expect_type(source, full, value, list)
            value = tuple(value)
        elif isinstance(default, bool):
            _expect_type(source, full, value, bool)
        elif isinstance(default, int):
            _expect_type(source, full, value, int)
        elif isinstance(default, float):
            _expect_type(source, full, value, (int, float))
            value = float(value)
        elif default is None and key.startswith("dose_"):
            _expect_type(source, full, value, (int, float))
            value = float(value)
        elif default is None or isinstance(default, str):
            _expect_type(source, full, value, str)
        values[key] = value
    return cls(**values)


def parse_spec(raw: dict[str, Any], source: str = "<memory>") -> AnalysisSpec:
    """Validate a spec given as a mapping (the parsed TOML) and build an :class:`AnalysisSpec`.

    Raises
    ------
    SpecError
        On unknown keys, wrong types, values outside their vocabularies and impossible
        combinations (e.g. a binomial model on continuous Treg effects). The message names
        the source file, the key and the allowed values.
    """
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise _err(source, unknown[0], f"unknown top-level key; allowed: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("name", "title", "question"):
        if key not in raw:
            raise _err(source, key, "required key is missing")
        _expect_type(source, key, raw[key], str)
    if not raw["name"].replace("_", "").replace("-", "").isalnum():
        raise _err(source, "name", "use letters, digits, '_' or '-' only (it names the results folder)")

    parts = {name: _section(source, name, raw[name], cls) for name, cls in _SECTIONS.items() if name in raw}
    data: DataSpec = parts.get("data", DataSpec())
    filters: FilterSpec = parts.get("filters", FilterSpec())
    model: ModelSpec = parts.get("model", ModelSpec())
    sampler: SamplerSpec = parts.get("sampler", SamplerSpec())
    reanalysis: ReanalysisSpec | None = parts.get("reanalysis")

    _choice(source, "data.kind", data.kind, DATA_KINDS)
    _choice(source, "data.measure", data.measure, MEASURES)
    _choice(source, "model.family", model.family, tuple(FAMILY_DATA))
    _choice(source, "model.parameterization", model.parameterization, PARAMETERIZATIONS)
    _choice(source, "sampler.sampler", sampler.sampler, SAMPLERS)
    _choice(source, "model.exposure", model.exposure, EXPOSURES)
    if model.exposure != "none" and model.family not in ("single_arm", "design_bias_rate"):
        raise _err(source, "model.exposure", "an exposure model applies to families 'single_arm' and "
                   "'design_bias_rate' (event rates) only")
    if (model.exposure == "cloglog") != (data.measure == "IRLN"):
        raise _err(source, "data.measure", "exposure = 'cloglog' models log rates per patient-year: use "
                   "measure 'IRLN' with it (and 'PLO' for exposure = 'none')")
    _choice(source, "sampler.engine", sampler.engine, ("auto", "exact", "mcmc"))
    if data.kind not in FAMILY_DATA[model.family]:
        raise _err(source, "model.family",
                   f"family {model.family!r} cannot fit data.kind {data.kind!r}; "
                   f"it accepts: {', '.join(FAMILY_DATA[model.family])}")
    if data.kind in ("event_rate", "event_contrast") and not data.outcome:
        raise _err(source, "data.outcome", f"required for data.kind {data.kind!r} (e.g. 'any_ae')")
    if data.kind == "reanalysis" and not data.study:
        raise _err(source, "data.study", "required for data.kind 'reanalysis' (a registry study_id)")
    if data.kind == "user_effects" and not data.path:
        raise _err(source, "data.path", "required for data.kind 'user_effects' (a CSV with yi and vi)")
    _choice(source, "data.skewed", data.skewed, SKEWED_POLICIES)
    if data.skewed != "keep" and data.kind not in TREG_KINDS:
        raise _err(source, "data.skewed", "applies to data.kind 'treg_expansion' or 'treg_partial' only "
                                          "(median Treg summaries)")
    _partial_options(source, data)
    if not -1.0 < data.prepost_r < 1.0:
        raise _err(source, "data.prepost_r", f"must lie strictly between -1 and 1, got {data.prepost_r}")
    if (filters.dose_min_miu is not None and filters.dose_max_miu is not None
            and filters.dose_min_miu > filters.dose_max_miu):
        raise _err(source, "filters.dose_min_miu", "must not exceed filters.dose_max_miu")
    for key, message in sampler_problems(draws=sampler.draws, tune=sampler.tune, chains=sampler.chains,
                                         seed=sampler.seed, target_accept=sampler.target_accept):
        raise _err(source, f"sampler.{key}", message)
    if not 0.0 < model.p_exch <= 1.0:
        raise _err(source, "model.p_exch", f"must lie in (0, 1] (1 = the three-level model), got {model.p_exch}")
    _choice(source, "model.design_adjustment", model.design_adjustment, ("bias", "power"))
    if not 0.0 < model.power_alpha <= 1.0:
        raise _err(source, "model.power_alpha", f"must lie in (0, 1] (1 = no down-weighting), got {model.power_alpha}")
    for key in ("bias_sd", "bias_spread"):
        if not getattr(model, key) >= 0.0 or getattr(model, key) == float("inf"):
            raise _err(source, f"model.{key}", f"must be a finite number >= 0, got {getattr(model, key)}")
    if model.covariates and model.family not in ("nnhm", "three_level"):
        raise _err(source, "model.covariates", "meta-regression is available for families nnhm and three_level")
    if model.family in ("three_level", "exnex", "exnex_rate") and filters.diseases and len(filters.diseases) == 1:
        raise _err(source, "model.family", "a three-level model needs more than one disease")
    if model.family == "reanalysis":
        reanalysis = reanalysis or ReanalysisSpec()
        for name in reanalysis.priors:
            _choice(source, "reanalysis.priors", name, REANALYSIS_PRIORS)
        if not 0.0 <= reanalysis.robust_weight <= 1.0:
            raise _err(source, "reanalysis.robust_weight", "must lie in [0, 1]")
        if reanalysis.clinically_important_or <= 1.0:
            raise _err(source, "reanalysis.clinically_important_or", "must exceed 1 (an odds ratio of benefit)")
    elif reanalysis is not None:
        raise _err(source, "reanalysis", "only allowed with model.family = 'reanalysis'")

    priors = raw.get("priors", {})
    if isinstance(priors, dict):  # a string such as tau = "half_normal(0.5)" becomes its table
        priors = {key: _prior_table(source, key, value) if isinstance(value, str) else value
                  for key, value in priors.items()}
    if not isinstance(priors, dict) or not all(isinstance(v, dict) for v in priors.values()):
        raise _err(source, "priors", "expected tables such as [priors.tau] family = 'half_normal', "
                                     "or strings such as tau = \"half_normal(0.5)\"")
    allowed_priors = ("tau", "mu", "tau_within", "tau_between", "beta", "alpha", "r", "rho", "nex")
    for key, value in priors.items():
        _choice(source, f"priors.{key}", key, allowed_priors)
        if "family" not in value:
            raise _err(source, f"priors.{key}.family", "required (e.g. 'half_normal', 'normal', 'turner')")

    sensitivity = []
    raw_sens = raw.get("sensitivity", [])
    _expect_type(source, "sensitivity", raw_sens, list)
    for i, item in enumerate(raw_sens):
        key = f"sensitivity[{i}]"
        if not isinstance(item, dict):
            raise _err(source, key, "expected a table [[sensitivity]] with name, kind, values")
        extra = sorted(set(item) - {"name", "kind", "values"})
        if extra:
            raise _err(source, f"{key}.{extra[0]}", "unknown key; allowed: kind, name, values")
        for req in ("name", "kind"):
            if req not in item:
                raise _err(source, f"{key}.{req}", "required key is missing")
        _choice(source, f"{key}.kind", item["kind"], SENSITIVITY_KINDS)
        values = item.get("values", [])
        _expect_type(source, f"{key}.values", values, list)
        if item["kind"] in ("prepost_r", "skewed_summaries") and data.kind not in TREG_KINDS:
            raise _err(source, f"{key}.kind", f"{item['kind']} sensitivity needs data.kind = 'treg_expansion' "
                                              "or 'treg_partial'")
        if item["kind"] in ("complete_only", "qualitative_assumption", "aggregates") and data.kind != "treg_partial":
            raise _err(source, f"{key}.kind", f"{item['kind']} sensitivity needs data.kind = 'treg_partial'")
        if item["kind"] == "qualitative_assumption":
            for value in values:
                _choice(source, f"{key}.values", value, QUALITATIVE_POLICIES)
        if item["kind"] == "aggregates" and not all(isinstance(v, bool) for v in values):
            raise _err(source, f"{key}.values", "aggregates sensitivity values must be true or false")
        if item["kind"] == "skewed_summaries":
            for value in values:
                _choice(source, f"{key}.values", value, SKEWED_POLICIES)
        if item["kind"] == "exclude_flagged":
            for value in values:
                _choice(source, f"{key}.values", value, FLAG_SEVERITIES)
        if item["kind"] == "prepost_r" and not all(isinstance(v, (int, float)) and -1 < v < 1 for v in values):
            raise _err(source, f"{key}.values", "correlations must be numbers strictly between -1 and 1")
        if item["kind"] == "tau_prior" and not all(isinstance(v, dict) and "family" in v for v in values):
            raise _err(source, f"{key}.values", "each value must be a prior table with a 'family' key")
        sensitivity.append(SensitivitySpec(name=item["name"], kind=item["kind"], values=tuple(values)))

    figures = raw.get("figures", ["forest"])
    _expect_type(source, "figures", figures, list)
    for fig in figures:
        _choice(source, "figures", fig, FIGURES)

    return AnalysisSpec(name=raw["name"], title=raw["title"], question=raw["question"], data=data,
                        filters=filters, model=model, priors=dict(priors), sampler=sampler,
                        sensitivity=tuple(sensitivity), reanalysis=reanalysis,
                        figures=tuple(figures), source=source)


def load_spec(path: str | Path) -> AnalysisSpec:
    """Read and validate one TOML analysis spec.

    Raises
    ------
    SpecError
        If the file is missing, is not valid TOML, or breaks the schema.
    """
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a folder, not a spec file (give the folder to 'bayes-il2 run' to run "
                        "every *.toml in it)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None
    if "simulation" in raw:
        raise SpecError(f"{path}: a simulation study (top-level [simulation] table), not an analysis spec: "
                        f"run it with 'bayes-il2 simulate {path}'")
    spec = parse_spec(raw, source=str(path))
    if spec.data.path is not None and not Path(spec.data.path).is_absolute():
        # a relative [data] path means relative to the spec file, wherever the command runs from
        spec = replace(spec, data=replace(spec.data, path=str(path.parent / spec.data.path)))
    if spec.name != path.stem:
        raise _err(str(path), "name", f"must equal the file name stem {path.stem!r}, got {spec.name!r}")
    return spec


def default_specs_dir() -> Path:
    """The ``models/`` directory of the repository (override with ``BAYES_IL2_MODELS``)."""
    import os

    env = os.environ.get("BAYES_IL2_MODELS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "models"


def discover_specs(directory: str | Path | None = None) -> list[Path]:
    """All ``*.toml`` specs in ``directory`` (default: ``models/``), sorted by name."""
    directory = Path(directory) if directory is not None else default_specs_dir()
    return [path for path in sorted(directory.glob("*.toml")) if not is_simulation_spec(path)]


def is_simulation_spec(path: str | Path) -> bool:
    """True for a simulation study (a TOML file with a top-level ``[simulation]`` table; run it with
    ``bayes-il2 simulate``). A file that cannot be read is not one (loading it reports why)."""
    try:
        return "simulation" in tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
