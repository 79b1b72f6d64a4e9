"""The documentation site builds from a clean state with warnings as errors (the README's command,
run into a temporary directory by the `docs_build` fixture of conftest.py), and its references
are complete: every public name of odes, simulate and sweep, every module, every flag of the four
command lines, every committed figure.  Also: the README keeps the set-up commands that .ci/run
runs, and its relative links lead to files that exist."""
import argparse
import importlib
import pkgutil
import re
import zlib
from pathlib import Path

import pytest
from docutils.nodes import make_id

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("odes", "simulate", "sweep")


def inventory(html):
    """{name: role} of the Python objects in the site's objects.inv (format version 2: four
    header lines, then zlib-compressed lines 'name domain:role priority uri dispname')."""
    data = (html / "objects.inv").read_bytes()
    header, _, body = data.partition(b"\n# The remainder of this file is compressed using zlib.\n")
    assert header.startswith(b"# Sphinx inventory version 2"), header[:40]
    names = {}
    for line in zlib.decompress(body).decode().splitlines():
        match = re.match(r"(.+?)\s+(py:\w+)\s+-?\d+\s", line)
        if match:
            names[match.group(1)] = match.group(2)
    return names


def public_names(package):
    mod = importlib.import_module(package)
    assert hasattr(mod, "__all__"), f"{package} has no __all__"
    return [f"{package}.{name}" for name in mod.__all__]


def test_builds_without_warnings(docs_build):
    assert docs_build.returncode == 0 and not docs_build.warnings(), \
        "sphinx-build -W failed:\n" + "\n".join(docs_build.warnings() or
                                                 docs_build.log.splitlines()[-30:])


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_in_reference(docs_build, package):
    documented = inventory(docs_build.html)
    missing = [name for name in public_names(package) if name not in documented]
    assert not missing, f"not in the API reference (objects.inv): {missing}"


@pytest.mark.parametrize("package", PACKAGES + ("figures",))
def test_every_module_in_reference(docs_build, package):
    # a module is a section of its package's page (a few are not indexed under their own name,
    # which is a function's: odes.integrate, simulate.run)
    page = (docs_build.html / "api" / f"{package}.html").read_text()
    pkg = importlib.import_module(package)
    modules = [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")
               if not any(part.startswith("_") for part in m.name.split("."))]
    assert modules
    missing = [m for m in modules if f'id="{make_id("api-" + m)}"' not in page]
    assert not missing, f"modules without a section in api/{package}.html: {missing}"


PARSERS = {"odes": "odes.cli", "simulate": "simulate.cli", "sweep": "sweep.cli",
           "figures": "figures.__main__"}


@pytest.mark.parametrize("command", PARSERS)
def test_every_flag_in_cli_reference(docs_build, command):
    parser = importlib.import_module(PARSERS[command]).build_parser()
    page = (docs_build.html / "cli.html").read_text()
    # the command's section (label cli-COMMAND in docs/cli.rst), up to the next command's
    section = page.split(f'id="cli-{command}"', 1)[-1].split('id="cli-', 1)[0]
    shown = {name.strip() for kbd in re.findall(r"<kbd>(.*?)</kbd>", section)
             for name in kbd.split(",")}
    flags = [s for a in parser._actions for s in a.option_strings
             if not isinstance(a, argparse._HelpAction)]
    missing = [f for f in flags if f not in shown]
    assert flags and not missing, f"flags of python -m {command} not in the reference: {missing}"


def test_gallery_has_every_committed_figure(docs_build):
    import figures
    committed = sorted(p.stem for p in (ROOT / "figures").glob("*.png"))
    assert sorted(figures.FIGURES) == committed
    page = (docs_build.html / "gallery.html").read_text()
    shown = set(re.findall(r'<img[^>]+src="_images/([\w-]+)\.png"', page))
    assert shown == set(committed)


def test_theory_page(docs_build):
    # docs/theory.md stays where the code's "theory.md §x" references point, and is a page
    assert (ROOT / "docs" / "theory.md").is_file()
    assert "Teacher–student theory" in (docs_build.html / "theory.html").read_text()


def test_readme_setup_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first_block[1] == ci
    assert first_block[0].startswith("pip install -e . && python -m simulate")


def test_readme_links_exist():
    readme = (ROOT / "README.md").read_text()
    links = [target for target in re.findall(r"\]\(([^)\s]+)\)", readme)
             if "://" not in target and not target.startswith("#")]
    assert links
    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README links to missing files: {missing}"


NUMPYDOC = '''Integrate the ODEs.

Parameters
----------
state : State
    The start.
rule : str
    Its name.

    A second paragraph.

Returns
-------
Result
    The outputs, ``|y|`` kept.

Examples
--------
>>> odes.integrate(st, "bp", 0.5)
'''


def test_docstring_handling():
    """docs/_ext/tsode_docs.py leaves a numpydoc docstring to napoleon untouched; shows a prose
    docstring's indented example as code, and one that is not reStructuredText as written."""
    import sys
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        from tsode_docs import escape_prose, literal_blocks, rst_problems
    finally:
        sys.path.pop(0)
    lines = NUMPYDOC.split("\n")
    assert literal_blocks(lines) == lines and not rst_problems(NUMPYDOC)
    prose = "Layout:\n\n    a.json   the spec\n    tasks/   one file per task\n".split("\n")
    assert literal_blocks(prose)[2] == ".. code-block:: text"
    example = "Use it so:\n\n    import odes\n    odes.integrate(st, 'bp', 0.5)\n".split("\n")
    assert literal_blocks(example)[2] == ".. code-block:: python"
    norm = ["The error |e| of `f_` in `g(*args)`, ``|literal|`` kept."]
    assert rst_problems("\n".join(norm))
    assert escape_prose(norm) == ["The error \\|e\\| of `f_` in `g(\\*args)`, ``|literal|`` kept."]
    assert not rst_problems("\n".join(escape_prose(norm)))
