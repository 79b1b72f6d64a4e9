"""Every notebook in notebooks/ runs top to bottom with small sizes (TSODE_SMALL=1), saves its
figure outside the committed ones, and is committed without outputs.  They run in the
documentation build (the `docs_build` fixture of conftest.py), which renders them as pages."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_notebooks_present():
    names = {p.stem for p in NOTEBOOKS}
    assert {"quickstart", "fig2", "bp_plateau", "fa_align_memorise", "pepita_f_scale"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: clear the outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, docs_build):
    # the notebooks run once, in the documentation build (conftest.py's docs_build: myst-nb
    # executes each with TSODE_SMALL=1 in a temporary working directory, with the repository
    # importable and matplotlib's inline backend, and fails the build on an error); here are
    # their outputs as executed there
    executed = docs_build.executed / path.name
    assert executed.is_file(), f"{path.name} was not executed by the documentation build:\n" + \
        "\n".join(docs_build.log.splitlines()[-30:])
    nb = nbformat.read(executed, as_version=4)
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
    # a figure notebook saves its figure, at small sizes under runs/figures/small/ of its working
    # directory, and never into the committed figures
    assert docs_build.figures_after == docs_build.figures_before
    if path.stem != "quickstart":
        printed = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                          and ".save(" in cell.source for out in cell.outputs)
        for ext in ("png", "pdf"):
            assert f"runs/figures/small/{path.stem}.{ext}" in printed, printed
    # every cell that draws shows its figure (the library draws outside pyplot and never switches
    # the backend, so a plot in a notebook cannot vanish); later pyplot figures still show too
    for cell in nb.cells:
        if cell.cell_type == "code" and (".plot()" in cell.source or "plt.subplots" in cell.source):
            assert any("image/png" in out.get("data", {}) for out in cell.outputs), cell.source[-200:]
    # progress bars render as widgets: no "IProgress not found" warning (ipywidgets is installed)
    text = [out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type == "stream"]
    assert not any("IProgress not found" in t for t in text)
