"""Sphinx helpers of tsode's documentation, so that the pages follow the code without edits:

* ``.. tsode-names:: PACKAGE`` documents every public name of a package (its ``__all__``) under
  the package's own name (``odes.integrate``, ``simulate.run``, ...), as a user writes it;
* ``.. tsode-modules:: PACKAGE`` documents every module below the package (found by walking it,
  so that a new or moved module appears by itself), each in its own section: the module's
  docstring and its public functions, classes and constants — the names it defines itself, or its
  ``__all__`` — less those already documented with an enclosing package, which it links to;
* ``.. tsode-gallery::`` shows the committed figures (figures/NAME.png for every name in
  ``figures.FIGURES``) with their one-line descriptions, the command that regenerates each, and
  links to its notebook and its module;
* the ``autodoc-process-docstring`` handler `prose_docstrings` reads the docstrings as their
  authors wrote them, for a terminal: an indented example or table becomes a code block (Python
  if it parses as Python) rather than a reflowed quote; a docstring that is still not valid
  reStructuredText (the prose uses ``|x|``, ``*args``, aligned plain-text tables, ...) is shown
  with the prose's ``|``, ``*args`` and ``name_`` escaped, and if it still does not parse, as
  preformatted text.  ``tsode_strict_docstrings = True`` (TSODE_DOCS_STRICT=1) also reports each
  docstring of that last kind as a warning.
"""
import ast
import importlib
import inspect
import io
import pkgutil
import re
from collections import defaultdict
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives, roles
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


# --- which names a package and its modules document -------------------------------------------

def submodules(package):
    """The importable modules below `package` (a name), depth first in name order; private
    modules (a component starting with '_', e.g. __main__) are left out."""
    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        found.append(info.name)
    return sorted(found)


def public_names(module):
    """The public names of a module: its ``__all__``, or else the names not starting with '_'
    that it defines itself (functions and classes whose __module__ is the module, and the names
    assigned at its top level)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    assigned = []
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        tree = None
    if tree is not None:
        for stmt in tree.body:
            targets = []
            if isinstance(stmt, ast.Assign):
                targets = stmt.targets
            elif isinstance(stmt, ast.AnnAssign):
                targets = [stmt.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        assigned.append(node.id)
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if getattr(obj, "__module__", None) == module.__name__ and (
                inspect.isclass(obj) or callable(obj)):
            names.append(name)
        elif name in assigned and not callable(obj):
            names.append(name)
    return names


def package_exports(modname):
    """{id(object): 'package.name'} of the names that the packages enclosing `modname` export
    in their __all__ (the outermost package wins)."""
    parts = modname.split(".")
    exported = {}
    for i in range(len(parts) - 1, 0, -1):       # innermost first, so outer ones overwrite
        pkg = importlib.import_module(".".join(parts[:i]))
        for name in getattr(pkg, "__all__", ()):
            obj = getattr(pkg, name, None)
            if obj is not None and not inspect.ismodule(obj) and not _is_plain_value(obj):
                exported[id(obj)] = f"{pkg.__name__}.{name}"
    return exported


def _is_plain_value(obj):
    # numbers, strings and the like are shared by identity between unrelated names
    return isinstance(obj, (int, float, complex, str, bytes, bool, type(None)))


def autodoc_lines(fullname, obj, indent=""):
    """The autodoc directive documenting `obj` under `fullname`."""
    if inspect.isclass(obj):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        options = [":members:"]
    elif callable(obj):
        kind, options = "autofunction", []
    else:
        kind = "autodata"
        options = [] if len(repr(obj)) <= 60 else [":no-value:"]
    return [f"{indent}.. {kind}:: {fullname}"] + [f"{indent}   {o}" for o in options] + [""]


def _clashes(modname):
    """Whether the module's dotted name is also the name of another object: the package
    re-exports a function of the same name (odes.integrate, simulate.run)."""
    parent, _, leaf = modname.rpartition(".")
    if not parent:
        return False
    obj = getattr(importlib.import_module(parent), leaf, None)
    return obj is not None and not inspect.ismodule(obj)


def home_of(obj, package, packages):
    """'pkg.name' if `obj` is a public name of one of `packages` listed before `package` (which
    then only re-exports it), else None."""
    for other in packages:
        if other == package:
            return None
        mod = importlib.import_module(other)
        for name in getattr(mod, "__all__", ()):
            if getattr(mod, name, None) is obj:
                return f"{other}.{name}"
    return None


def reexport_lines(fullname, obj, home):
    """A short entry for a name re-exported from another package, pointing to its home."""
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "data"
    module, _, name = fullname.rpartition(".")
    return [f".. py:{kind}:: {name}", f"   :module: {module}", "",
            f"   The same object as :py:obj:`{home}`, re-exported for convenience.", ""]


class NamesDirective(SphinxDirective):
    """``.. tsode-names:: PACKAGE``: the package's public names, documented under its name."""
    required_arguments = 1

    def run(self):
        package = self.arguments[0]
        pkg = importlib.import_module(package)
        lines = []
        modules = []
        for name in public_names(pkg):
            obj = getattr(pkg, name)
            if inspect.ismodule(obj):
                modules.append(obj.__name__)
                continue
            home = None if _is_plain_value(obj) else home_of(
                obj, package, self.config.tsode_packages)
            if home is not None:
                lines += reexport_lines(f"{package}.{name}", obj, home)
            else:
                lines += autodoc_lines(f"{package}.{name}", obj)
        if modules:
            refs = ", ".join(f":py:mod:`{package}.{m.rpartition('.')[2]} <{m}>`" for m in modules)
            lines = [f"Modules exported by ``{package}``: {refs} (see the modules below).", ""] \
                + lines
        return _parse(self, lines)


class ModulesDirective(SphinxDirective):
    """``.. tsode-modules:: PACKAGE``: one section per module below the package."""
    required_arguments = 1

    def run(self):
        result = []
        for modname in submodules(self.arguments[0]):
            mod = importlib.import_module(modname)
            section = nodes.section(ids=[nodes.make_id(f"api-{modname}")])
            section += nodes.title("", "", nodes.literal(text=modname))
            clash = _clashes(modname)
            # a module named like a function its package exports (odes.integrate) is shown
            # but not indexed under that name, so that the name stays the function's
            head = [f".. automodule:: {modname}"] + (["   :no-index:", ""] if clash else [""])
            if clash:
                head += [f".. py:currentmodule:: {modname}", ""]
            exported = package_exports(modname)
            elsewhere, body = [], []
            for name in public_names(mod):
                obj = getattr(mod, name, None)
                if obj is None or inspect.ismodule(obj):
                    continue
                if id(obj) in exported and not _is_plain_value(obj):
                    elsewhere.append((name, exported[id(obj)]))
                else:
                    body += autodoc_lines(f"{modname}.{name}", obj)
            if elsewhere:
                refs = ", ".join(f"``{n}`` (:py:obj:`{full}`)" if full.rpartition(".")[2] != n
                                 else f":py:obj:`{full}`" for n, full in elsewhere)
                head += [f"Documented with the package: {refs}.", ""]
            section += _parse(self, head + body)
            result.append(section)
        return result


def _parse(directive, lines):
    node = nodes.container()
    directive.state.nested_parse(StringList(lines, source=f"<{directive.name}>"),
                                 directive.content_offset, node)
    return node.children


# --- the figure gallery -----------------------------------------------------------------------

class GalleryDirective(SphinxDirective):
    """``.. tsode-gallery::``: every committed figure with its description."""

    def run(self):
        import figures
        root = Path(self.env.srcdir).parent
        docdir = Path(self.env.doc2path(self.env.docname)).parent
        figdir = Path(figures.__file__).resolve().parent
        notebooks = root / "notebooks"
        result = []
        for name, text in figures.FIGURES.items():
            png = figdir / f"{name}.png"
            rel = Path(_relpath(png, docdir)).as_posix()
            section = nodes.section(ids=[nodes.make_id(f"gallery-{name}")])
            section += nodes.title("", "", nodes.literal(text=name))
            lines = [f".. figure:: {rel}", "   :width: 100%", f"   :alt: {name}", "",
                     f"   {_rst_text(text)}", "",
                     f"Regenerate: ``python -m figures {name}`` (full size; ``--small`` for a "
                     f"quick run). Script: :py:mod:`figures.{name}`."]
            if (notebooks / f"{name}.ipynb").is_file():
                lines[-1] += f" Notebook: :doc:`/notebooks/{name}`."
            lines.append("")
            self.env.note_dependency(str(png))
            section += _parse(self, lines)
            result.append(section)
        return result


def _relpath(path, start):
    import os
    return os.path.relpath(path, start)


def _rst_text(text):
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")


# --- the command lines ------------------------------------------------------------------------

def _plain(text):
    """Plain text (argparse help is written for a terminal) as reStructuredText showing it as is."""
    text = text.replace("\\", "\\\\")
    return re.sub(r"([*`|_\[\]])", r"\\\1", text)


def _preformatted(text):
    return "::\n\n" + "\n".join("    " + line for line in text.splitlines()) + "\n"


def _plain_parser_info(info, raw):
    """sphinx-argparse's description of a parser with its texts made plain: help strings escaped;
    description and epilog escaped, or preformatted for a RawDescriptionHelpFormatter."""
    if isinstance(info, dict):
        out = {}
        for key, value in info.items():
            if key in ("description", "epilog") and isinstance(value, str) and value:
                out[key] = _preformatted(value) if raw else _plain(value)
            elif key == "help" and isinstance(value, str):
                out[key] = _plain(value)
            else:
                out[key] = _plain_parser_info(value, raw)
        return out
    if isinstance(info, list):
        return [_plain_parser_info(item, raw) for item in info]
    return info


def plain_argparse_directive():
    """``.. tsode-argparse::``: sphinx-argparse's ``argparse`` directive (same options) for
    parsers whose help is plain text."""
    import argparse

    from sphinxarg import ext as sphinxarg_ext

    class PlainArgParse(sphinxarg_ext.ArgParseDirective):
        def run(self):
            original = sphinxarg_ext.parse_parser

            def parse(parser, **kwargs):
                raw = isinstance(parser.formatter_class, type) and issubclass(
                    parser.formatter_class, argparse.RawDescriptionHelpFormatter)
                return _plain_parser_info(original(parser, **kwargs), raw)

            sphinxarg_ext.parse_parser = parse
            try:
                result = super().run()
            finally:
                sphinxarg_ext.parse_parser = original
            for item in result:             # the usage line is not Python
                for block in item.findall(nodes.literal_block):
                    if block.astext().startswith("usage:"):
                        block["language"] = "none"
            return result

    return PlainArgParse


# --- prose docstrings -------------------------------------------------------------------------

class _AnyDirective(Directive):
    # stands in for every directive while a docstring is checked: only the surrounding
    # reStructuredText is checked, not what directives and roles do with their content
    has_content = True
    optional_arguments = 100
    final_argument_whitespace = True
    option_spec = defaultdict(lambda: directives.unchanged)

    def run(self):
        return []


def _any_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [nodes.literal(rawtext, text)], []


def rst_problems(text):
    """The messages (warning level and above) of parsing `text` as reStructuredText, with every
    directive and role accepted."""
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document
    try:
        from docutils.frontend import get_default_settings        # docutils >= 0.19
        settings = get_default_settings(Parser)
    except ImportError:
        from docutils.frontend import OptionParser
        settings = OptionParser(components=(Parser,)).get_default_values()
    settings.report_level = 5
    settings.halt_level = 5
    settings.warning_stream = io.StringIO()
    document = new_document("<docstring>", settings)
    problems = []
    document.reporter.attach_observer(
        lambda msg: problems.append(msg.astext()) if msg["level"] >= 2 else None)
    saved = directives.directive, roles.role
    # docutils' Parser.parse drops the default role when it ends: keep the page's (default_role)
    default = roles._roles.get("")
    directives.directive = lambda name, language, document: (_AnyDirective, [])
    roles.role = lambda name, language, lineno, reporter: (_any_role, [])
    try:
        Parser().parse(text, document)
    finally:
        directives.directive, roles.role = saved
        if default is not None:
            roles._roles[""] = default
    # what the transforms would report later: |name| with no substitution, name_ with no target
    if any(True for _ in document.findall(nodes.substitution_reference)):
        problems.append("undefined substitution (|...|)")
    if any(node.get("refname") not in document.nameids
           for node in document.findall(lambda n: isinstance(n, nodes.Element) and "refname" in n)):
        problems.append("unknown target name (name_)")
    return problems


_LITERAL = re.compile(r"(``.+?``)")
_BAR = re.compile(r"(?<!\\)\|")
_STAR_ARGS = re.compile(r"(?<![\w*\\])(\*{1,2})(?=[A-Za-z_])")
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)(_{1,2})(?=[\s.,;:)\]!?'\"]|$)")


def escape_prose(lines):
    """`lines` with the prose's ``|``, ``*args`` and ``name_`` escaped, outside inline literals,
    literal blocks and doctests."""
    out = []
    literal_indent = None          # indentation of the paragraph that opened a literal block
    for line in lines:
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if literal_indent is not None:
            if not stripped or indent > literal_indent:
                out.append(line)
                continue
            literal_indent = None
        if stripped.startswith(">>>") or stripped.startswith(("+-", "+=", "|")):
            out.append(line)
        else:
            parts = _LITERAL.split(line)
            for i in range(0, len(parts), 2):
                part = _BAR.sub(r"\\|", parts[i])
                if not re.search(r"\*\S.*?\S\*", part):
                    part = _STAR_ARGS.sub(lambda m: "\\" + "\\".join(m.group(1)), part)
                parts[i] = _TRAILING_UNDERSCORE.sub(lambda m: "\\" + m.group(1), part)
            out.append("".join(parts))
        if stripped.endswith("::"):
            literal_indent = indent
    return out


_LIST_ITEM = re.compile(r"([-*+]|\d+[.)]|#\.|\(\d+\)|:\w[^:]*:)(\s|$)")


def literal_blocks(lines):
    """`lines` with every block that is indented further than the paragraph before it (after a
    blank line) shown as code: in these docstrings such a block is an example or a table laid
    out for a terminal, which reStructuredText would otherwise reflow as a quote.  Python if it
    parses as Python, else plain text.  Not after a directive, a list item, a field or a heading,
    nor inside a literal block already."""
    out = []
    para_first = None          # the current paragraph's first line
    prev = None                # the last non-blank line
    blank_since = False
    literal_indent = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped:
            blank_since = True
            out.append(line)
            i += 1
            continue
        if literal_indent is not None and indent > literal_indent:
            out.append(line)
            prev, blank_since = line, False
            i += 1
            continue
        literal_indent = None
        if prev is not None and blank_since:
            prev_indent = len(prev) - len(prev.lstrip())
            first = (para_first or "").lstrip()
            if (indent > prev_indent and not prev.rstrip().endswith("::")
                    and not first.startswith(("..", ">>>")) and not _LIST_ITEM.match(first)
                    and not re.fullmatch(r"([-=~^\"'`#*+])\1+", prev.strip())):   # a heading
                j = i
                while j < len(lines) and (not lines[j].strip() or
                                          len(lines[j]) - len(lines[j].lstrip()) > prev_indent):
                    j += 1
                while not lines[j - 1].strip():
                    j -= 1
                block = lines[i:j]
                language = "python" if _is_python(block) else "text"
                out += [" " * prev_indent + f".. code-block:: {language}", ""] + block
                prev, blank_since, i = block[-1], False, j
                continue
            para_first = line
        elif prev is None:
            para_first = line
        if stripped.endswith("::"):
            literal_indent = indent
        out.append(line)
        prev, blank_since = line, False
        i += 1
    return out


def _is_python(block):
    import textwrap
    try:
        ast.parse(textwrap.dedent("\n".join(block)))
    except SyntaxError:
        return False
    return True


def prose_docstrings(app, what, name, obj, options, lines):
    """autodoc-process-docstring (before napoleon): keep a docstring that parses; escape the
    prose's special characters in one that does not; show it preformatted if it still fails.
    A constant without a comment of its own gets no text (not its type's docstring)."""
    if what == "data" and lines and not _has_comment(name):
        lines[:] = []
    if not lines:
        return
    original = list(lines)
    lines[:] = literal_blocks(lines)
    if not rst_problems("\n".join(lines)):
        return
    escaped = escape_prose(lines)
    problems = rst_problems("\n".join(escaped))
    if not problems:
        lines[:] = escaped
        return
    if app.config.tsode_strict_docstrings:
        logger.warning(f"docstring of {name} is not valid reStructuredText: {problems[0]}",
                       type="tsode", subtype="docstring")
    lines[:] = [".. code-block:: text", ""] + [
        "    " + line if line.strip() else "" for line in original] + [""]


def _has_comment(fullname):
    """Whether the module-level name has a doc comment (``#:``) or docstring in its module's
    source; without one, autodoc would show the docstring of the value's type."""
    from sphinx.pycode import ModuleAnalyzer
    modname, _, attr = fullname.rpartition(".")
    try:
        return ("", attr) in ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:
        return False


def setup(app):
    app.add_config_value("tsode_strict_docstrings", False, "env")
    # the documented packages in import order: a name a later one re-exports from an earlier one
    # is documented once, with the earlier one, and linked from the later
    app.add_config_value("tsode_packages", ["odes", "simulate", "sweep", "figures"], "env")
    app.add_directive("tsode-names", NamesDirective)
    app.add_directive("tsode-modules", ModulesDirective)
    app.add_directive("tsode-gallery", GalleryDirective)
    app.setup_extension("sphinxarg.ext")
    app.add_directive("tsode-argparse", plain_argparse_directive())
    # before sphinx.ext.napoleon (priority 500), which then sees a checked docstring
    app.connect("autodoc-process-docstring", prose_docstrings, priority=100)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
