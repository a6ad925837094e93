"""Exception types of bayes_il2.

Every error a user can cause is a subclass of :class:`BayesIL2Error` and says what to fix.
"""
from __future__ import annotations

import signal
from dataclasses import asdict, dataclass

#: Exit codes of the ``bayes-il2`` command (here, below the CLI, so every layer can name them):
#: 0 success; 1 a diagnostic check failed under ``--strict`` (results are kept); 2 bad input
#: (registry, spec, CSV, arguments, an output folder that is not ours); 128 + N stopped by signal N
#: (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
EXIT_OK, EXIT_DIAGNOSTICS, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class BayesIL2Error(Exception):
    """Base class of all errors raised by bayes_il2."""


@dataclass(frozen=True)
class Problem:
    """One broken rule in one cell of a registry or input file.

    ``line`` is the 1-based line of the file, the header being line 1, so the first data row is
    line 2. ``line`` and ``column`` are ``None`` when the problem concerns the whole file.
    """

    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.column is not None:
            where += f" [{self.column}]"
        shown = "" if self.value is None else f" value={self.value!r}:"
        return f"{where}:{shown} {self.rule}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


class RegistryError(BayesIL2Error):
    """The evidence registry (or a user's table) broke one or more rules.

    Attributes
    ----------
    problems : list of Problem
        Every problem found, not only the first.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        files = sorted({p.file for p in self.problems})
        where = files[0] if len(files) == 1 else "the registry"
        super().__init__(f"{len(self.problems)} problem(s) in {where}:\n{lines}")


class EffectSizeError(BayesIL2Error, ValueError):
    """Summary statistics that cannot give an effect size (names the row or study)."""


class SpecError(BayesIL2Error, ValueError):
    """An analysis spec is malformed: names the file, the key and the allowed values."""


class ModelError(BayesIL2Error, ValueError):
    """Input a model cannot be fitted to (empty table, non-positive variance, ...)."""


class OutputError(BayesIL2Error):
    """An output path that bayes_il2 will not write: it holds files that bayes_il2 did not create."""


class Interrupted(KeyboardInterrupt):
    """The process received SIGINT, SIGTERM or SIGHUP (a KeyboardInterrupt, so that no
    ``except Exception`` swallows it and every ``finally`` cleans up on the way out)."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
