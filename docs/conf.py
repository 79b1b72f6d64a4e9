"""Sphinx configuration of tsode's documentation site.

Build (offline, warnings as errors), from the repository root:

    pip install -e '.[docs]'
    sphinx-build -W --keep-going -b html docs docs/_build/html

The notebooks in notebooks/ (linked here as docs/notebooks) are executed during the build at small
sizes (TSODE_SMALL=1), each in a temporary working directory; the API reference is generated from
the packages' docstrings and the command-line reference from the argparse parsers, so both follow
the code without edits here.  A quicker build that shows the notebooks without running them:
add ``-D nb_execution_mode=off``.
"""
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# document the source tree next to this file, installed or not; the notebook kernels inherit it
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
# notebooks at small sizes (a few seconds each); figures inline, never a window
os.environ.setdefault("TSODE_SMALL", "1")
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

project = "tsode"
author = "the tsode developers"
copyright = "the tsode developers, MIT licence"
try:
    from importlib.metadata import version as _version
    release = _version("tsode")
except Exception:           # not installed: the source tree is still documented
    release = ""
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "myst_nb",              # Markdown pages (MyST) and the notebooks
    "tsode_docs",           # docs/_ext: the module reference, the gallery, prose docstrings
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "**/runs", "Thumbs.db", ".DS_Store"]
# text is typed as it should print: "--latex" stays two hyphens, quotes stay straight in code-ish prose
smartquotes = False

# --- API reference (autodoc + napoleon) --------------------------------------------------------
# the docstrings are prose with `backquoted` names: link those that name a documented object
default_role = "py:obj"
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "description"
autodoc_preserve_defaults = True
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
# set TSODE_DOCS_STRICT=1 to list every docstring that is not valid reStructuredText as a warning
# (by default such a docstring is shown as preformatted text, as help() shows it)
tsode_strict_docstrings = os.environ.get("TSODE_DOCS_STRICT", "") not in ("", "0")

# --- Markdown and notebooks (myst-nb) ----------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "force"          # committed without outputs: run them (small sizes, above)
nb_execution_in_temp = True          # they save their figure under runs/ in the working directory
nb_execution_timeout = 600           # per cell; the first cell to use a kernel compiles it
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# --- output ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "tsode"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_last_updated_fmt = None
# nothing is fetched at build time: no intersphinx, no remote images
