"""Shared look of the figures: matplotlib settings, rule colours and labels, saving, caption boxes.

Colours come from `odes.plot.RULE_COLOURS` (one colour per rule across every figure of the
project); the alignment angles, which appear together in one panel, get their own fixed colours.

Saving never touches the committed figures unless asked: `save` writes into OUTPUT_DIR (relative
to the working directory, ignored by git) unless given another directory, and FIGURE_DIR, the
committed files, only when named explicitly.  A file that already holds exactly the new bytes is
left alone (same modification time), so regenerating unchanged figures changes nothing.
"""
import io
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from odes.io import atomic_write
from odes.plot import RULE_COLOURS

#: the committed full-size figures (figures/NAME.png and .pdf); written only when asked for
#: (`python -m figures NAME --committed`, or this directory given as outdir)
FIGURE_DIR = Path(__file__).resolve().parent

#: where figures go by default: runs/figures/ under the working directory (git ignores runs/)
OUTPUT_DIR = Path("runs") / "figures"

#: environment switch for quick runs (tests, CI, notebooks): TSODE_SMALL=1
SMALL_ENV = "TSODE_SMALL"

RULE_LABELS = {"bp": "BP", "fa": "FA", "afa": "AFA", "pepita-lin": "PEPITA-linearised",
               "pepita": "PEPITA", "pepita-hebbian": "PEPITA Hebbian", "pepita-tl": "PEPITA time-local",
               "ff": "Forward-Forward"}

#: colours of the alignment angles (distinct from the rule colours where they share a panel)
ANGLE_COLOURS = {"v_vstar": "#1b4f8a", "v_deg": "#c0392b", "a_v": "#2e8b57", "b_v": "#2e8b57",
                 "net": "#7f7f7f"}
ANGLE_LABELS = {"v_vstar": r"$\theta(v, v^*)$", "v_deg": r"$\theta(v, v_{\rm deg})$",
                "a_v": r"$\theta(a, v)$", "b_v": r"$\theta(b, v)$"}
ANGLE_MARKERS = {"v_vstar": "o", "v_deg": "s", "a_v": "^", "b_v": "^"}

RC = {
    "font.size": 9, "axes.labelsize": 10, "axes.titlesize": 10, "legend.fontsize": 8,
    "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "axes.spines.top": False,
    "axes.spines.right": False, "axes.linewidth": 0.8, "lines.linewidth": 1.6,
    "lines.markersize": 4, "errorbar.capsize": 0, "legend.frameon": False,
    "legend.handlelength": 2.2, "savefig.dpi": 200, "savefig.bbox": "tight",
    "savefig.pad_inches": 0.04, "figure.dpi": 100, "mathtext.fontset": "dejavusans",
    "pdf.fonttype": 42,
}


def is_small(small=None):
    """`small` if given, else the TSODE_SMALL environment switch (1/true/yes)."""
    if small is not None:
        return bool(small)
    return os.environ.get(SMALL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def pyplot():
    """matplotlib.pyplot without forcing a backend: inline in notebooks, Agg in scripts without a
    display (the CLI selects Agg before importing)."""
    import matplotlib.pyplot as plt
    return plt


@contextmanager
def rc():
    """The project's matplotlib settings, for the duration of a figure's construction."""
    import matplotlib as mpl
    with mpl.rc_context(RC):
        yield


def colour(rule):
    return RULE_COLOURS[rule]


def label(rule):
    return RULE_LABELS[rule]


def log_time_axis(ax, t_min, t_max, label=r"time $t$ = steps$/D$"):
    ax.set_xscale("log")
    ax.set_xlim(t_min, t_max)
    ax.set_xlabel(label)


def angle_axis(ax, label="angle (degrees)"):
    ax.set_ylim(-3, 183)
    ax.set_yticks([0, 45, 90, 135, 180])
    ax.set_ylabel(label)


def sim_markers(ax, t, mean, sem, rule, label=None, marker="o", every=1, ms=4.2, zorder=3,
                filled=True, colour_=None):
    """Simulation mean +- standard error as markers with error bars (nan-safe)."""
    c = colour_ or colour(rule)
    idx = np.arange(0, len(t), every)
    ok = idx[np.isfinite(mean[idx])]
    err = np.nan_to_num(sem[ok]) if sem is not None else None
    return ax.errorbar(t[ok], mean[ok], yerr=err, fmt=marker, ms=ms, color=c,
                       mfc=c if filled else "white", mec=c, mew=1.0, elinewidth=0.9,
                       zorder=zorder, label=label)


def text_box(ax, text, loc="upper right", fontsize=7.5, **kw):
    """A small framed box of parameters inside an axes, placed with an AnchoredText."""
    from matplotlib.offsetbox import AnchoredText
    box = AnchoredText(text, loc=loc, prop=dict(size=fontsize), frameon=True, borderpad=0.4, **kw)
    box.patch.set(boxstyle="round,pad=0.3", facecolor="white", edgecolor="0.75", alpha=0.92)
    ax.add_artist(box)
    return box


def panel_label(ax, letter, x=-0.13, y=1.02):
    ax.text(x, y, letter, transform=ax.transAxes, fontsize=12, fontweight="bold", va="bottom",
            ha="left")


def fmt_num(x, digits=3):
    """Short number for labels: powers of ten >= 1000 as mathtext 10^k, else up to `digits`
    significant digits without exponent notation (2000, 215, 0.05)."""
    x = float(x)
    if not np.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    e = np.log10(abs(x))
    if abs(x) >= 1000 and abs(e - round(e)) < 1e-9:
        return f"$10^{{{int(round(e))}}}$"
    if abs(x) >= 10 ** digits:
        return f"{x:.0f}"
    return f"{float(f'{x:.{digits}g}'):g}"


def output_dir(small=None):
    """The default directory of the figures: OUTPUT_DIR, or OUTPUT_DIR/small for small sizes (so
    that a quick run never replaces a full-size one)."""
    return OUTPUT_DIR / "small" if is_small(small) else OUTPUT_DIR


def fixed_layout(fig, passes=3):
    """Lay the new figure out `passes` times and keep that layout; returns fig.

    Constrained layout starts from where the last draw left the axes and moves them a little on
    every draw, so without this the saved bytes would depend on how often the figure had been
    drawn before (a notebook's display, an earlier save).  After three passes the next one moves
    no axes by more than 0.05 px at 200 dpi (measured on the small figures)."""
    if fig.get_layout_engine() is None:
        return fig
    with rc():
        for _ in range(passes):
            fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig


def save(fig, name, outdir=None, formats=("png", "pdf")):
    """Write fig to outdir/name.png and .pdf (default: `output_dir()`, never the committed
    figures); a file that already holds the same bytes is not rewritten.  Returns the paths."""
    outdir = output_dir() if outdir is None else Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = outdir / f"{name}.{ext}"
        write_if_changed(path, render(fig, ext, name))
        paths.append(path)
    return paths


def render(fig, ext, name):
    """The bytes of fig as an `ext` file, with fixed metadata."""
    buf = io.BytesIO()
    with rc():
        fig.savefig(buf, format=ext, metadata=_metadata(ext, name))
    return buf.getvalue()


def write_if_changed(path, data):
    """Write bytes to path atomically, unless it already holds exactly them; True if written."""
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return True


def _metadata(ext, name):
    # fixed metadata: no creation date, so that a re-run with the same numbers gives the same file
    if ext == "pdf":
        return {"Title": name, "Creator": "tsode figures", "Producer": None, "CreationDate": None}
    if ext == "png":
        return {"Title": name, "Software": "tsode figures"}
    return None
