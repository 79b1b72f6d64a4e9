"""The LaTeX output of `odes.symbolic` (and `python -m odes --latex`): every display fits an
article's text width, the layout keeps every term, and sigma appears only when it was given."""
import re
import shutil
import subprocess
import warnings

import pytest
import sympy as sp

from odes import symbolic
from odes.cli import main

CASES = [(rule, K, M) for rule in ("bp", "fa", "afa", "pepita-lin") for K, M in ((2, 2), (3, 2))]

#: widest row (after the left-hand side) in `printed`: pdflatex sets the rows of these equations at
#: <= 5.3pt per printed character, and an article's 345pt holds 24pt of left-hand side, a 20pt
#: \qquad and 56 characters (56 x 5.3 + 44 = 341pt)
MAX_ROW = 56
#: longest source line (a row with its left-hand side): readable in an editor; the one-line
#: equations of before ran to 1,400-5,600 characters
MAX_SOURCE_LINE = 240


def printed(tex):
    """Characters that a row of math prints: a command (\\lambda) is one, sizes and spaces
    (\\bigl, \\left, \\quad, \\mathrm), braces, script markers, & and blanks none."""
    tex = re.sub(r"\\(left|right|bigl|bigr|mathrm|mathbb|quad|qquad)(?![a-zA-Z])", "", tex)
    tex = re.sub(r"\\[a-zA-Z]+", "x", tex)
    return len(re.sub(r"[{}_^&\s]", "", tex))


def rows_of(text):
    """The right-hand side of each row of the aligned block in `text`."""
    body = text[text.index(r"\begin{aligned}") + len(r"\begin{aligned}"):text.index(r"\end{aligned}")]
    return [row.split("&", 1)[1] for row in body.split(r"\\")]


@pytest.mark.parametrize("rule,K,M", CASES)
def test_rows_fit_an_article_without_a_latex_engine(rule, K, M):
    text = symbolic.latex(rule, K, M)
    for line in text.splitlines():
        assert len(line) <= MAX_SOURCE_LINE, line[:100]
    rows = rows_of(text)
    assert len(rows) > text.count(r"\frac{\mathrm{d}")          # long equations are broken
    for row in rows:
        assert printed(row) <= MAX_ROW, row


@pytest.mark.parametrize("rule,K,M", CASES)
def test_layout_keeps_every_term(rule, K, M, monkeypatch):
    """The rows, joined, are sympy's one-line print of the collected expression (the output of
    before), up to spacing and \\bigl[ \\bigr] for \\left( \\right)."""
    def one_line(expr, names):
        collected = sp.collect(sp.expand(expr), [symbolic.eta, symbolic.eta_v])
        return [sp.latex(collected, symbol_names=names)]

    def bare(text):
        text = re.sub(r"\\\\|&|\\q?quad(?![a-zA-Z])|\s", "", text)
        return text.replace(r"\bigl[", r"\left(").replace(r"\bigr]", r"\right)")

    for noise in (True, False):
        broken = symbolic.latex(rule, K, M, noise=noise)
        with monkeypatch.context() as m:
            m.setattr(symbolic, "_rhs_rows", one_line)
            assert bare(broken) == bare(symbolic.latex(rule, K, M, noise=noise))


def latex_engine():
    return next((e for e in ("pdflatex", "lualatex", "latex") if shutil.which(e)), None)


@pytest.mark.skipif(latex_engine() is None, reason="no LaTeX engine on PATH")
@pytest.mark.parametrize("env", ["equation*", "align*"])
@pytest.mark.parametrize("rule,K,M", CASES)
def test_compiles_without_overfull_boxes(rule, K, M, env, tmp_path):
    """The file in an article, as its preamble suggests: inside equation*, or its rows in align*
    with page breaks allowed (then the pages hold it too: no overfull \\vbox)."""
    text = symbolic.latex_document(rule, K, M, noise=True)
    if env == "align*":
        text = text.replace("{aligned}", "{align*}")
    else:
        text = text.replace(r"\begin{aligned}", "\\begin{equation*}\n\\begin{aligned}")
        text += "\\end{equation*}\n"
    preamble = "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\allowdisplaybreaks\n"
    (tmp_path / "eqs.tex").write_text(preamble + "\\begin{document}\n" + text + "\\end{document}\n")
    p = subprocess.run([latex_engine(), "-interaction=nonstopmode", "-halt-on-error", "eqs.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "eqs.log").read_text(errors="replace")
    assert p.returncode == 0, p.stdout[-2000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)[:3]
    if env == "align*":
        assert "Overfull \\vbox" not in log


@pytest.mark.parametrize("sigma", [None, "0", "0.3"])
@pytest.mark.parametrize("rule,K,M", CASES)
def test_cli_mentions_label_noise_iff_sigma_is_given(rule, K, M, sigma, tmp_path, monkeypatch):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)    # main() replaces it
    tex = tmp_path / "eqs.tex"
    argv = ["--rule", rule, "--K", str(K), "--M", str(M), "--latex", str(tex)]
    assert main(argv + (["--sigma", sigma] if sigma else [])) == 0
    text = tex.read_text()
    header = text[:text.index(r"\begin{aligned}")].lower()
    noisy = sigma == "0.3"
    assert ("sigma" in header) == noisy and ("noise" in header) == noisy
    assert (r"\sigma" in text[len(header):]) == noisy
