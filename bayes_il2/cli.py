"""The ``bayes-il2`` command line.

Exit codes (:mod:`bayes_il2.errors`): 0 success; 1 a diagnostic check failed and ``--strict`` was
given (results are kept); 2 bad input (registry, spec, CSV, arguments, an output folder that is
not ours); 128 + N stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from bayes_il2.errors import (EXIT_BAD_INPUT, EXIT_DIAGNOSTICS, EXIT_INTERRUPTED, EXIT_OK,  # noqa: F401
                               BayesIL2Error, Interrupted)

EPILOG_MAIN = """\
examples:
  bayes-il2 run                              run every shipped analysis (models/*.toml)
  bayes-il2 run models/treg_expansion.toml --draws 500 --strict
  bayes-il2 fit my_effects.csv --measure SMD --out results/mine
  bayes-il2 fit --counts my_counts.csv --out results/ae
  bayes-il2 data validate                    check the bundled registry
  bayes-il2 data check                       consistency of the printed statistics
  bayes-il2 data list                        studies by disease
  bayes-il2 data show He2022_pSS             every row of one study
  bayes-il2 data crosscheck                  published meta-analyses against the registry
  bayes-il2 reanalyze --events 20/30 8/30 --prior skeptical --prior neutral

exit codes: 0 ok, 1 failed diagnostics with --strict (results kept), 2 bad input,
            128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM)
never deleted: a folder bayes-il2 did not write, or files in it it did not write (--out is refused)
"""


def default_jobs() -> int:
    """Parallel analyses by default: two where the machine has two cores (the run's wall time
    is dominated by single-threaded model compilation, so two specs at once nearly halve it)."""
    return max(1, min(2, os.cpu_count() or 1))


def _add_sampler_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling (override the spec)")
    g.add_argument("--draws", type=int, help="posterior draws per chain")
    g.add_argument("--tune", type=int, help="tuning steps per chain")
    g.add_argument("--chains", type=int, help="number of chains")
    g.add_argument("--seed", type=int, help="random seed (runs with the same seed are identical)")
    g.add_argument("--sampler", choices=("nutpie", "pymc"), help="NUTS implementation (default nutpie)")
    g.add_argument("--target-accept", type=float, help="NUTS target acceptance (default 0.9; raise it, e.g. "
                   "0.99, when divergent transitions are reported)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayes-il2", description="Bayesian evidence synthesis of low-dose interleukin-2.",
        epilog=EPILOG_MAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    from bayes_il2 import __version__

    parser.add_argument("--version", action="version", version=f"bayes-il2 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run analysis specs and write results + report",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="examples:\n  bayes-il2 run\n  bayes-il2 run models/pss_reanalysis.toml --out /tmp/res\n"
                                "  bayes-il2 run --jobs 2 --draws 500 --strict\n")
    run.add_argument("specs", nargs="*", type=Path,
                     help="spec files or folders of them (default: every models/*.toml)")
    run.add_argument("--out", type=Path, default=Path("results"), help="results directory (default: results)")
    run.add_argument("--data", type=Path, default=None, help="registry directory (default: bundled data/)")
    run.add_argument("--strict", action="store_true", help="exit 1 when any diagnostic check fails")
    run.add_argument("--jobs", type=int, default=default_jobs(),
                     help=f"analyses run in parallel processes (default: min(2, CPU cores) = {default_jobs()})")
    run.add_argument("--quiet", action="store_true", help="print only the final table")
    run.add_argument("--no-report", action="store_true", help="skip results/index.html")
    run.add_argument("--force", action="store_true",
                     help="recompute every analysis (default: keep an analysis folder whose spec, registry, "
                          "package code and library versions are unchanged and whose files are as written)")
    _add_sampler_options(run)

    fit = sub.add_parser("fit", help="meta-analysis of your own CSV",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="CSV columns:\n  effects: yi and vi (or se); optional label, group, and covariates\n"
                                "  --counts: study, events_t, n_t, events_c, n_c (two arms) or study, events, n\n"
                                "examples:\n  bayes-il2 fit effects.csv --measure SMD\n"
                                "  bayes-il2 fit --counts ae.csv --out results/ae\n")
    fit.add_argument("csv", type=Path, help="input CSV")
    fit.add_argument("--counts", action="store_true", help="the CSV holds event counts per arm")
    fit.add_argument("--measure", default=None, help="effect measure code of yi (e.g. SMD, ROM, OR)")
    fit.add_argument("--model", choices=("nnhm", "three_level"), default=None,
                     help="random-effects model (three_level needs a 'group' column)")
    fit.add_argument("--tau-prior", default=None,
                     help="heterogeneity prior, e.g. 'half_normal(0.5)' or 'half_cauchy(1)' [default: weakly "
                          "informative, scaled to the measure and the data; printed]")
    fit.add_argument("--mu-prior", default=None,
                     help="prior of the pooled mean, e.g. 'normal(0, 2)' [default: scaled like --tau-prior]")
    fit.add_argument("--parameterization", choices=("noncentered", "centered"), default=None,
                     help="random effects non-centered (default; imprecise studies) or centered (precise studies)")
    fit.add_argument("--covariate", action="append", default=[], help="meta-regression covariate column")
    fit.add_argument("--out", type=Path, default=Path("results/user_fit"), help="output directory")
    fit.add_argument("--strict", action="store_true", help="exit 1 when any diagnostic check fails")
    fit.add_argument("--quiet", action="store_true")
    answer = fit.add_mutually_exclusive_group()
    answer.add_argument("--exact", dest="engine", action="store_const", const="exact",
                        help="answer with the exact engine (an error where it does not apply)")
    answer.add_argument("--mcmc", dest="engine", action="store_const", const="mcmc",
                        help="answer by MCMC (NUTS) even where the exact engine applies; the exact "
                             "engine then cross-checks it (default: exact where it applies)")
    _add_sampler_options(fit)

    data = sub.add_parser("data", help="inspect and validate the evidence registry")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    val = dsub.add_parser("validate", help="validate a registry directory; list every problem")
    val.add_argument("directory", nargs="?", type=Path, default=None, help="registry dir (default: bundled)")
    chk = dsub.add_parser("check", help="internal consistency of the printed statistics (P vs mean/SD/n, "
                                        "%% vs counts, CIs, ranges, GRIM); flags are reported, the exit code is 0 "
                                        "unless --strict")
    chk.add_argument("directory", nargs="?", type=Path, default=None, help="registry dir (default: bundled)")
    chk.add_argument("--strict", action="store_true", help="exit 1 when any flag is an error")
    lst = dsub.add_parser("list", help="studies by disease with n, design and outcomes with numbers")
    lst.add_argument("--data", type=Path, default=None)
    lst.add_argument("--disease", default=None, help="only this disease")
    show = dsub.add_parser("show", help="every registry row of one study")
    show.add_argument("study_id")
    show.add_argument("--data", type=Path, default=None)
    cross = dsub.add_parser("crosscheck", help="recompute the published meta-analyses (meta_analyses.csv) "
                                               "from the registry; say which inputs are missing")
    cross.add_argument("--data", type=Path, default=None)

    rea = sub.add_parser("reanalyze", help="quick Bayesian reanalysis of a two-arm trial",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="examples:\n  bayes-il2 reanalyze --events 20/30 8/30\n"
                                "  bayes-il2 reanalyze --events 20/30 8/30 --prior skeptical --or-important 2\n"
                                "  bayes-il2 reanalyze --difference -18.33 -28.46 -8.21 --lower-is-better --mcid 10\n"
                                "  bayes-il2 reanalyze --study He2022_pSS\n")
    src = rea.add_mutually_exclusive_group(required=True)
    src.add_argument("--events", nargs=2, metavar=("T/NT", "C/NC"),
                     help="responders/total in the treated and control arms, e.g. 20/30 8/30")
    # argparse takes "-1e6" for an option (its negative-number pattern has no exponent): widen it
    rea._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
    src.add_argument("--difference", nargs=3, type=float, metavar=("EST", "LOW", "HIGH"),
                     help="a mean difference (treated minus control) with its 95%% CI")
    src.add_argument("--study", help="a registry study_id (all its two-arm endpoints)")
    rea.add_argument("--prior", action="append", default=None,
                     choices=("skeptical", "neutral", "enthusiastic", "flat", "map", "map_robust"),
                     help="prior(s) to use (default: skeptical, neutral, enthusiastic); map and "
                          "map_robust need --study (the MAP prior comes from the other LD-IL-2 RCTs)")
    rea.add_argument("--map-study", action="append", default=None, metavar="STUDY_ID",
                     help="trial(s) the MAP prior is built from (default with --study: every other pooled "
                          "RCT in the registry with a responder endpoint)")
    rea.add_argument("--or-important", type=float, default=2.0, help="clinically important odds ratio [2.0]")
    rea.add_argument("--mcid", type=float, default=10.0, help="clinically important mean difference [10]")
    rea.add_argument("--lower-is-better", action="store_true", help="for --difference: negative = benefit")
    rea.add_argument("--harm", action="store_true", help="for --events: the event is a harm (fewer is better)")
    rea.add_argument("--data", type=Path, default=None)

    sim = sub.add_parser("simulate", help="run a simulation study (TOML) on Dask",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="examples:\n  bayes-il2 simulate models/sim_small_k.toml\n"
                                "  bayes-il2 simulate models/sim_small_k.toml --workers 2 --resume\n"
                                "  bayes-il2 simulate SPEC --scheduler tcp://10.0.0.5:8786   (or $BAYES_IL2_SCHEDULER)\n")
    sim.add_argument("spec", type=Path, help="simulation spec (a TOML file with a [simulation] table)")
    sim.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (default: "
                     "$BAYES_IL2_SCHEDULER, else an embedded local cluster)")
    sim.add_argument("--workers", type=int, default=None, help="local cluster worker processes (default: CPU cores)")
    sim.add_argument("--out", type=Path, default=None, help="output directory (default: results/simulations/NAME)")
    sim.add_argument("--resume", action="store_true", help="keep finished chunks in --out and run only the rest")
    sim.add_argument("--quiet", action="store_true", help="do not print the summary table")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayes-il2`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from bayes_il2 import _xarray_dask, commands

    # The commands' numpy-only fits need not import dask (issue #19); a library user's xarray is left
    # as it is: only the console script defers the probes.
    _xarray_dask.install()
    from bayes_il2._arviz import defer_arviz_umbrella

    defer_arviz_umbrella()  # nutpie's `import arviz` would import arviz_plots and matplotlib

    def simulate(args: argparse.Namespace) -> int:  # Dask is imported only for this command
        from bayes_il2.simulation.command import simulate_command

        return simulate_command(args)

    handlers = {"run": commands.run_command, "fit": commands.fit_command, "data": commands.data_command,
                "reanalyze": commands.reanalyze_command, "simulate": simulate}
    from bayes_il2.processes import handle_signals

    try:
        with handle_signals():  # SIGINT/SIGTERM/SIGHUP raise Interrupted: every finally cleans up
            return handlers[args.command](args)
    except BayesIL2Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Interrupted as exc:
        print(f"stopped: {exc}; nothing of this command was written (earlier results are unchanged)",
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stopped: interrupted; nothing of this command was written (earlier results are unchanged)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `bayes-il2 data check | head`: the reader has gone, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def console() -> None:
    """The ``bayes-il2`` console script: :func:`main`, then the process ends without Python's teardown.

    Freeing every module and object at interpreter exit costs about 0.15 s after an exact ``fit``
    (more after ``run``), a tenth of the command. Everything the command writes is written through
    closed files by the time :func:`main` returns, so once the standard streams are flushed and the
    atexit handlers have run (logging's among them), ``os._exit`` ends the process. Where a
    non-daemon thread still runs, or the interpreter has no ``atexit._run_exitfuncs``, the normal
    exit is taken.
    """
    import atexit
    import threading

    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if any(not t.daemon for t in others) or run_exit_handlers is None:
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that has gone (`| head`): nothing left to write
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
