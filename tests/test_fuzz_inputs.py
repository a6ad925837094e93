"""Fuzzing the three doors of user input (#13): the CSV reader, the spec parser, the CLI arguments.

No input may give a traceback, a segfault or an exit code other than 0 or 2. The CLI fuzz stops
before sampling: a stub in place of the model fit records that validation let the input through.
"""
from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_il2 import cli
from bayes_il2.errors import BayesIL2Error, SpecError
from bayes_il2.specs import parse_spec
from bayes_il2.userdata import read_counts_csv, read_effects_csv

CELLS = st.one_of(st.sampled_from(["", "0", "-1", "1e308", "1e-30", "inf", "nan", "abc", "0.5", "3", "1e9",
                                   "-0", "2.5e-7", '"', "1,2", "x;y"]),
                  st.text(alphabet=string.printable, max_size=6))
HEADERS = st.lists(st.sampled_from(["study", "yi", "vi", "se", "group", "events", "n", "events_t", "n_t",
                                    "events_c", "n_c", "label", "year", "yi"]), min_size=1, max_size=6)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def csv_texts(draw):
    header = draw(HEADERS)
    sep = draw(st.sampled_from([",", ";", "\t"]))
    rows = draw(st.lists(st.lists(CELLS, min_size=len(header), max_size=len(header) + 1), max_size=5))
    body = "\n".join(sep.join(r) for r in rows)
    return sep.join(header) + "\n" + body + draw(st.sampled_from(["", "\n", "\r\n"]))


@FUZZ
@given(text=csv_texts(), counts=st.booleans())
def test_the_csv_reader_returns_a_table_or_names_the_problem(tmp_path, text, counts):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    try:
        table = (read_counts_csv if counts else read_effects_csv)(path)
    except BayesIL2Error as exc:
        assert "fuzz.csv" in str(exc)
        return
    assert len(table) > 0


@FUZZ
@given(raw_bytes=st.binary(max_size=200))
def test_the_csv_reader_survives_arbitrary_bytes(tmp_path, raw_bytes):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(raw_bytes)
    try:
        read_effects_csv(path)
    except BayesIL2Error:
        pass


VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20), st.floats(),
                                st.text(max_size=8), st.sampled_from(["nnhm", "treg_expansion", "ROMC", "keep",
                                                                      "half_normal", "forest", "pymc"])),
                      lambda inner: st.one_of(st.lists(inner, max_size=3),
                                              st.dictionaries(st.sampled_from(
                                                  ["kind", "family", "draws", "seed", "measure", "values",
                                                   "name", "scale", "outcome", "prepost_r", "covariates",
                                                   "diseases", "target_accept", "chains", "tune"]), inner,
                                                  max_size=4)), max_leaves=12)
SECTIONS = st.dictionaries(st.sampled_from(["data", "filters", "model", "priors", "sampler", "sensitivity",
                                            "reanalysis", "figures", "bogus"]), VALUES, max_size=4)


@FUZZ
@given(extra=SECTIONS)
def test_the_spec_parser_returns_a_spec_or_a_spec_error(extra):
    raw = {"name": "fuzz", "title": "t", "question": "q", **extra}
    try:
        parse_spec(raw, source="fuzz.toml")
    except SpecError as exc:
        assert "fuzz.toml" in str(exc) or "prior" in str(exc)


TOKENS = st.sampled_from(["--draws", "--tune", "--chains", "--seed", "--jobs", "--measure", "--model", "--counts",
                          "--tau-prior", "--covariate", "--strict", "--quiet", "0", "-5", "1", "60", "1e9",
                          "99999999999999999999", "abc", "SMD", "OR", "RR", "nnhm", "three_level",
                          "half_normal:abc", "half_cauchy:5", "half_normal:-1", "year", "--sampler", "pymc", "nutpie"])


@FUZZ
@given(command=st.sampled_from(["fit", "fit-counts", "run"]), tokens=st.lists(TOKENS, max_size=6))
def test_cli_arguments_give_exit_0_or_2_and_validate_before_the_sampler(tmp_path, monkeypatch, command, tokens):
    import bayes_il2.pipeline as pipeline

    class ReachedSampler(Exception):
        pass

    def stub(*args, **kwargs):
        raise ReachedSampler

    monkeypatch.setattr(pipeline, "fit_table", stub)
    effects = tmp_path / "e.csv"
    effects.write_text("study,yi,vi,year\nA,0.2,0.04,2001\nB,0.5,0.09,2003\nC,0.1,0.02,2004\n")
    counts = tmp_path / "c.csv"
    counts.write_text("study,events_t,n_t,events_c,n_c\nA,3,10,1,10\nB,4,12,2,11\n")
    out = tmp_path / "out"
    if command == "run":
        argv = ["run", str(tmp_path / "none.toml"), "--out", str(out), *tokens]
    elif command == "fit":
        argv = ["fit", str(effects), "--out", str(out), *tokens]
    else:
        argv = ["fit", "--counts", str(counts), "--out", str(out), *tokens]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse: --help (0) or a malformed command line (2)
        code = exc.code
    assert code in (0, 2)
