"""The README's first Python example runs as written and passes every diagnostic check."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def first_python_block() -> str:
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A Python tour"):]
    return re.search(r"```python\n(.*?)```", tour, re.S).group(1)


def test_the_first_example_is_at_most_ten_lines_of_code():
    code = [line for line in first_python_block().splitlines() if line.strip() and not line.startswith("#")]
    assert len(code) <= 10


@pytest.mark.mcmc
def test_readme_first_example_passes_all_checks(capsys):
    namespace: dict = {}
    exec(compile(first_python_block(), str(README), "exec"), namespace)  # noqa: S102 - our own README
    report = namespace["report"]
    assert report.status == "pass", report.verdict
    assert report.verdict.startswith("PASS")
    assert "theta_new" in capsys.readouterr().out
