"""Command line: ``python -m figures NAME [NAME ...] | all [--small] [--outdir DIR]``.

Writes DIR/NAME.png and DIR/NAME.pdf (default DIR: the figures/ directory, or figures/small/ with
--small so that quick runs never overwrite the full-size figures), then prints how long the figure
took and the numbers it shows.  An unknown name: a one-line message on stderr and exit status 2.
"""
import argparse
import sys
import time

from . import FIGURES
from .style import FIGURE_DIR, SMALL_ENV, is_small

PROG = "python -m figures"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{PROG}: error: {message}\n")
        sys.exit(2)


def build_parser():
    listing = "\n".join(f"  {name:<18} {text}" for name, text in FIGURES.items())
    p = _Parser(prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Regenerate the project's figures from the odes and simulate "
                            "libraries (PNG and PDF).",
                epilog=f"figures:\n{listing}\n  {'all':<18} every figure above\n\n"
                       f"Quick runs: --small or {SMALL_ENV}=1 (small sizes, a few seconds each).")
    p.add_argument("names", nargs="+", metavar="NAME", help="figure name(s), or 'all'")
    p.add_argument("--small", action="store_true", default=None,
                   help=f"small sizes for a quick check (same as {SMALL_ENV}=1); writes to "
                        "figures/small/ unless --outdir is given")
    p.add_argument("--outdir", default=None,
                   help="output directory (default: the figures/ directory)")
    p.add_argument("--quiet", action="store_true", help="do not print the summaries")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    names = []
    for name in args.names:
        if name == "all":
            names += [n for n in FIGURES if n not in names]
        elif name in FIGURES:
            if name not in names:
                names.append(name)
        else:
            sys.stderr.write(f"{PROG}: error: unknown figure {name!r}; choose from "
                             f"{', '.join(FIGURES)} or all\n")
            return 2
    small = is_small(args.small)
    outdir = args.outdir if args.outdir is not None else (FIGURE_DIR / "small" if small else FIGURE_DIR)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import module
    total = time.perf_counter()
    for name in names:
        mod = module(name)
        t0 = time.perf_counter()
        data = mod.compute(small=small)
        fig = mod.plot(data)
        paths = mod.save(fig, outdir)
        plt.close(fig)
        elapsed = time.perf_counter() - t0
        print(f"{name}: {elapsed:.1f} s{' (small)' if small else ''} -> "
              f"{', '.join(str(p) for p in paths)}", flush=True)
        if not args.quiet:
            for line in mod.summary(data).splitlines():
                print(f"  {line}", flush=True)
    if len(names) > 1:
        print(f"all: {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
