"""The tutorial notebooks: stored with their outputs, each with a narrative, and every one executes.

A notebook may show a FAIL verdict only when the markdown cell after it explains what failed and what
to do (the word FAIL or "If a check fails" there); an unexplained FAIL fails the test.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def text_of(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for key in ("text/plain", "text/html"):
            if key in out.get("data", {}):
                parts.append(out["data"][key])
    return "\n".join(parts)


def unexplained_fails(notebook) -> list[int]:
    """Indexes of code cells whose output holds a FAIL verdict with no explanation in the next markdown cell."""
    cells = notebook.cells
    bad = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or "FAIL" not in text_of(cell):
            continue
        following = next((c for c in cells[i + 1:] if c.cell_type == "markdown"), None)
        if following is None or not ("FAIL" in following.source or "If a check fails" in following.source):
            bad.append(i)
    return bad


def test_all_seven_tutorials_are_present():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_with_outputs_and_a_narrative(path: Path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    markdown = [c for c in notebook.cells if c.cell_type == "markdown"]
    assert all(c.get("outputs") or not c.source.strip() for c in code[1:]), "executed: every code cell has output"
    assert len(markdown) >= 5 and "Question" in markdown[0].source
    assert unexplained_fails(notebook) == []


def test_an_unexplained_fail_is_caught():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(report.verdict)", outputs=[
            nbformat.v4.new_output("stream", text="FAIL: divergences fail (2 divergent transitions)")]),
        nbformat.v4.new_markdown_cell("The pooled mean is 3.")])
    assert unexplained_fails(nb) == [0]


@pytest.mark.notebook
@pytest.mark.mcmc
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, tmp_path: Path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [out for cell in notebook.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    assert unexplained_fails(notebook) == []
