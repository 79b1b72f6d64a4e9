"""Every notebook in notebooks/ runs top to bottom with small sizes (TSODE_SMALL=1), saves its
figure outside the committed ones, and is committed without outputs."""
import hashlib
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT = 300          # seconds per cell; small runs take a few seconds


def committed_figures():
    """(modification time, sha256) of every committed figure file."""
    return {f.name: (f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
            for f in sorted((ROOT / "figures").glob("*.p[dn][fg]"))}


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
def test_notebook_runs(path, monkeypatch, tmp_path):
    # the kernel inherits this environment: small sizes, the repository importable even without
    # an editable install, and a non-interactive matplotlib
    monkeypatch.setenv("TSODE_SMALL", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    before = committed_figures()
    nb = nbformat.read(path, as_version=4)
    # the kernel works in tmp_path, where the notebook saves its figure (runs/figures/small/)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
    # a figure notebook saves its figure, and never into the committed figures
    assert committed_figures() == before
    if path.stem != "quickstart":
        saved = tmp_path / "runs" / "figures" / "small"
        assert sorted(p.name for p in saved.iterdir()) == [f"{path.stem}.pdf", f"{path.stem}.png"]
    # every cell that draws shows its figure (the library draws outside pyplot and never switches
    # the backend, so a plot in a notebook cannot vanish); later pyplot figures still show too
    for cell in nb.cells:
        if cell.cell_type == "code" and (".plot()" in cell.source or "plt.subplots" in cell.source):
            assert any("image/png" in out.get("data", {}) for out in cell.outputs), cell.source[-200:]
    # progress bars render as widgets: no "IProgress not found" warning (ipywidgets is installed)
    text = [out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type == "stream"]
    assert not any("IProgress not found" in t for t in text)
