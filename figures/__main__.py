"""Command line: ``python -m figures NAME [NAME ...] | all [--small] [--outdir DIR | --committed]``.

Writes DIR/NAME.png and DIR/NAME.pdf, then prints how long the figure took and the numbers it
shows.  Default DIR: runs/figures/ under the working directory (runs/figures/small/ with --small);
the committed figures in figures/ are rewritten only with --committed (full size only) or an
explicit --outdir.  A file whose bytes would not change is left untouched.  An unknown name, or
--committed with small sizes: a one-line message on stderr and exit status 2.
"""
import argparse
import sys
import time

from . import FIGURES
from .style import FIGURE_DIR, SMALL_ENV, is_small, output_dir

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
                        f"{output_dir(True)}/ unless --outdir is given")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--outdir", default=None,
                       help=f"output directory (default: {output_dir(False)}/ under the working "
                            "directory)")
    where.add_argument("--committed", action="store_true",
                       help=f"write the committed full-size figures in {FIGURE_DIR}/ (only "
                            "the files that change)")
    p.add_argument("--quiet", action="store_true", help="do not print the summaries")
    return p


def destination(args, small):
    """The output directory of a parsed command line."""
    if args.committed:
        return FIGURE_DIR
    return args.outdir if args.outdir is not None else output_dir(small)


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
    if args.committed and small:
        sys.stderr.write(f"{PROG}: error: --committed writes the full-size figures; drop --small "
                         f"and {SMALL_ENV}\n")
        return 2
    outdir = destination(args, small)

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
    from odes.command_line import run_main
    sys.exit(run_main(PROG, main, "the figures finished so far are written"))
