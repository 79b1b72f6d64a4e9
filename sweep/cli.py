"""Command line: ``python -m sweep SPEC.toml --out PATH [--jobs N] [--scheduler ADDRESS |
--cluster slurm|pbs|sge] [--resume] [--quiet]``.

Runs the sweep of the spec (see `sweep.spec`) into the store at PATH (see `sweep.store`), with a
progress bar over tasks, then prints one line: tasks done, points with diverged seeds, wall time.
Bad input (an unknown key, an empty grid, a value a run would refuse, a store of another spec):
one line on stderr naming the key, exit status 2, nothing written.  Tasks that raised: exit
status 1 (the store keeps the rest; --resume retries them).
"""
import sys
from pathlib import Path

from odes.command_line import UsageError, Parser, command_line_setup, positive_int

from .execute import CLUSTERS, execute
from .spec import SpecError, load_spec

PROG = "python -m sweep"


def build_parser():
    p = Parser(prog=PROG, description="Sweep odes / simulate runs over a parameter grid and "
                "seeds, into a resumable store read by sweep.open (an xarray Dataset).")
    p.add_argument("spec", type=Path, help="TOML spec (kind, rule, run parameters, [grid] lists)")
    p.add_argument("--out", type=Path, required=True, help="store directory (created)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="local worker processes (default: all cores), or batch jobs with --cluster")
    backend = p.add_mutually_exclusive_group()
    backend.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="run on the workers of this Dask scheduler (e.g. tcp://host:8786)")
    backend.add_argument("--cluster", choices=tuple(CLUSTERS), default=None,
                         help="start workers as batch jobs (dask-jobqueue; options from the "
                              "spec's [cluster] table)")
    p.add_argument("--resume", action="store_true",
                   help="finish the sweep in --out: only missing or unreadable tasks are run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    command_line_setup(PROG)
    try:
        args = build_parser().parse_args(argv)
        spec = load_spec(args.spec)
        ds, summary = execute(spec, args.out, jobs=args.jobs, scheduler=args.scheduler,
                              cluster=args.cluster, resume=args.resume,
                              progress=False if args.quiet else None)
    except (UsageError, SpecError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    print(f"{PROG}: {summary.line()}; store {args.out}", file=sys.stderr)
    for name, message in summary.failed:
        print(f"{PROG}: task {name} failed: {message}", file=sys.stderr)
    return 1 if summary.failed else 0
