"""What the command lines of odes, simulate, sweep and figures share: a parser whose errors are
one line (`Parser`, `UsageError`), the run flags of `python -m odes` and `python -m simulate` and
their checks (`add_run_arguments`, `check_run_arguments`, outputs included), Ctrl-C as one line
and exit 130 (`run_main`), the command-line setup and the writing of a run's files.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from .io import unwritable


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse with errors as UsageError, and values that start with a minus sign and a digit
    (``--atol -1e-9``, ``--times -1,1``) taken as values, so that they reach the value checks."""

    def error(self, message):
        raise UsageError(message)

    def parse_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else map(str, args))
        joined = []
        for a in args:
            if (joined and joined[-1].startswith("--") and "=" not in joined[-1]
                    and len(a) > 1 and a[0] == "-" and (a[1].isdigit() or a[1] == ".")):
                joined[-1] = f"{joined[-1]}={a}"
            else:
                joined.append(a)
        return super().parse_args(joined, namespace)


def positive_int(s):
    x = int(s)
    if x < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return x


def times_list(s):
    try:
        return [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None


def add_run_arguments(p, rules, eta_required=True):
    """The flags shared by `python -m odes` and `python -m simulate`.  eta_required=False leaves
    --eta to `check_run_arguments` (python -m odes --latex needs none); `show_required` then marks
    it required in the usage line all the same."""
    from .activations import ACTIVATIONS
    from .solvers import DEFAULT_METHOD, SCIPY_METHODS
    from .weights import STUDENT_INITS, V_STAR_INITS
    p.add_argument("--rule", required=True, choices=rules, help="learning rule")
    p.add_argument("--K", type=positive_int, default=None, help="student hidden units (default 2)")
    p.add_argument("--M", type=positive_int, default=None, help="teacher hidden units (default 2)")
    p.add_argument("--eta", type=float, default=None, required=eta_required,
                   help="first-layer learning rate (required" +
                        (")" if eta_required else ", except with --latex)"))
    p.add_argument("--eta-v", type=float, default=None, help="second-layer learning rate (default eta)")
    p.add_argument("--sigma", type=float, default=0.0, help="label-noise standard deviation (default 0)")
    p.add_argument("--freeze-v", action="store_true", help="do not train the second layer")
    p.add_argument("--weight-decay", type=float, default=0.0, metavar="KAPPA",
                   help="weight decay kappa >= 0: per step w <- w - (kappa/D) w and v likewise "
                        "(theory.md 8.1; default 0)")
    p.add_argument("--activation", choices=ACTIVATIONS, default="erf",
                   help="activation g of teacher and student (theory.md 8.2; default erf)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the random teacher, student and F (and data) (default 0)")
    p.add_argument("--D", type=positive_int, default=None, help="input dimension D (default 500)")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--phi-F", type=float, default=None,
                       help="scale of F for AFA/PEPITA as |F|^2 (the parameter that decides whether "
                            "PEPITA behaves like AFA, theory.md 6.2): entries N(0, phi_F/D), so "
                            "E|F|^2 = phi_F; exclusive with --sigma-F")
    scale.add_argument("--sigma-F", type=float, default=None,
                       help="std of the entries of F (default 0.05*sqrt(2/D), the paper's scale, "
                            "|F|^2 ~ 0.005); exclusive with --phi-F")
    p.add_argument("--student-init", choices=STUDENT_INITS, default="large",
                   help="student initialisation (theory.md 1.3; default large)")
    p.add_argument("--v-star", choices=V_STAR_INITS, default="gaussian",
                   help="teacher second layer: N(0,1) entries or all ones (default gaussian)")
    p.add_argument("--t-max", type=float, default=None, help="final time t = steps/D")
    p.add_argument("--times", type=times_list, default=None,
                   help="comma-separated output times (default: log-spaced up to --t-max)")
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help=f"ODE method: dopri5 (adaptive Dormand-Prince 5(4), default), bdf (compiled "
                        f"stiff method, for long runs at small eta), rk4, euler "
                        f"or scipy-<METHOD> with METHOD one of {', '.join(SCIPY_METHODS)}")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance of dopri5, bdf and scipy-* (default 1e-8)")
    p.add_argument("--atol", type=float, default=None,
                   help="absolute tolerance of dopri5, bdf and scipy-* (default 1e-14)")
    p.add_argument("--nodes", type=positive_int, default=None,
                   help="quadrature nodes per field dimension of the ODEs evaluated by quadrature "
                        "(pepita, pepita-hebbian, pepita-tl; default 16 for K+M = 4, fewer above, "
                        "said in a warning; more is slower and more accurate, theory.md 3.6)")
    p.add_argument("--dt", type=float, default=None,
                   help="step of rk4 and euler; the grid of the default output times (default 0.01)")
    wm = p.add_argument_group("weight mirroring (theory.md 11.2; rules with F)")
    wm.add_argument("--mirror-eta", type=float, default=0.0, metavar="ETA_M",
                    help="mirroring rate eta_M: F learns from noise passed through the network "
                         "(default 0: F fixed, plain PEPITA)")
    wm.add_argument("--mirror-noise", type=float, default=1.0, metavar="S",
                    help="std of each entry of a noise input (default 1)")
    wm.add_argument("--mirror-batch", type=positive_int, default=1, metavar="B",
                    help="noise inputs per mirroring step (default 1)")
    wm.add_argument("--mirror-decay", type=float, default=0.0, metavar="KAPPA_M",
                    help="F's decay in the mirroring step (default 0)")
    wm.add_argument("--mirror-fixed-norm", action="store_true",
                    help="rescale F to its initial |F|^2 after every mirroring step (the paper's "
                         "code)")
    wm.add_argument("--pre-mirror", type=float, default=0.0, metavar="T_PRE",
                    help="mirror alone (W, v frozen) for this time before learning starts; times "
                         "count from the start of learning (default 0)")
    ff = p.add_argument_group("Forward-Forward (theory.md 11.1; --rule ff)")
    ff.add_argument("--ff-theta", type=float, default=None, metavar="THETA",
                    help="goodness threshold theta of the logistic weighting (default 1)")
    ff.add_argument("--ff-positive", choices=("modulated", "clean"), default=None,
                    help="which pass is positive, its goodness raised (default modulated: the "
                         "top-down feedback makes the positive input)")
    p.add_argument("--out", type=Path, help="write arrays to this .npz with a .json sidecar")
    p.add_argument("--csv", type=Path, help="write a CSV table (header line, one row per time)")
    p.add_argument("--plot", type=Path, help="write a PNG plot")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def mirror_keywords(args):
    """The weight-mirroring and Forward-Forward keywords of `odes.integrate` and `simulate.run`
    from the flags."""
    from .rhs.mirroring import KEYWORDS
    from .rules import FF_KEYWORDS
    return {k: getattr(args, k) for k in KEYWORDS + FF_KEYWORDS}


def check_run_arguments(args, realise_init=False):
    """Value checks that argparse cannot do; raise UsageError with a one-line message.
    Fills the defaults K = M = 2, D = 500 and seed 0 of a run from random weights.  With --init
    the state is given: --D and --seed are refused unless `realise_init` (the simulator, which
    realises the state in dimension D with a seed's random rotation)."""
    from .solvers import get_method, resolve
    if getattr(args, "init", None) is None or realise_init:
        if getattr(args, "init", None) is None:
            args.K, args.M = args.K or 2, args.M or 2
        args.D = 500 if args.D is None else args.D
        args.seed = 0 if args.seed is None else args.seed
    if getattr(args, "init", None) is not None:
        for name in ("D", "seed", "phi_F", "sigma_F") if not realise_init else ("phi_F", "sigma_F"):
            if getattr(args, name) is not None:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} is for random weights; --init gives the state itself")
    for name in ("eta", "eta_v", "sigma", "sigma_F", "phi_F", "weight_decay"):
        x = getattr(args, name, None)
        if x is not None and (not np.isfinite(x) or x < 0):
            raise UsageError(f"--{name.replace('_', '-')} must be finite and >= 0, got {x}")
    for name in ("dt", "t_max"):
        x = getattr(args, name, None)
        if x is not None and (not np.isfinite(x) or x <= 0):
            raise UsageError(f"--{name.replace('_', '-')} must be finite and > 0, got {x}")
    if args.phi_F is not None:
        args.sigma_F = float(np.sqrt(args.phi_F / args.D))
    also = [x.strip() for x in (getattr(args, "also", "") or "").split(",")]
    from .rules import RULES
    quadrature = [r for r in RULES.values() if r.exact_pepita]
    if args.nodes is not None and not any(r.name in [args.rule] + also for r in quadrature):
        raise UsageError(f"--nodes is for the ODEs evaluated by quadrature (--rule "
                         f"{', '.join(r.name for r in quadrature)})")
    if getattr(args, "ode", True):
        from .rhs.parameters import check_activation
        for name in [args.rule] + [x for x in also if x]:
            try:
                check_activation(name, args.activation)
            except ValueError as err:
                raise UsageError(f"--activation: {err}") from None
    from .rhs.mirroring import mirroring
    from .rules import FF_KEYWORDS, ff_options, get_rule
    try:
        ff_options(get_rule(args.rule), args.ff_theta, args.ff_positive)
    except ValueError as err:
        raise UsageError(f"--ff-theta, --ff-positive: {err}") from None
    try:
        mirror = mirroring(get_rule(args.rule), **{k: x for k, x in mirror_keywords(args).items()
                                                   if k not in FF_KEYWORDS})
    except ValueError as err:
        flag = str(err).split()[0]
        raise UsageError(f"--{flag.replace('_', '-')}: {err}" if flag.startswith(("mirror", "pre"))
                         else str(err).replace("weight mirroring", "--mirror-eta (weight mirroring)")
                         ) from None
    if mirror.on and getattr(args, "latex", None) is not None:
        raise UsageError("--latex derives the ODEs without weight mirroring; drop --mirror-eta")
    if args.activation != "erf" and getattr(args, "latex", None) is not None:
        raise UsageError("--latex derives the erf ODEs only; drop --activation")
    if args.eta is None and getattr(args, "latex", None) is None:
        raise UsageError("the following arguments are required: --eta")
    only_equations = getattr(args, "fixed_point", False) or getattr(args, "latex", None) is not None
    if args.t_max is None and args.times is None and not only_equations:
        raise UsageError("give --t-max or --times")
    if args.times is not None:
        t = np.asarray(args.times)
        if t.size == 0 or t[0] < 0 or np.any(np.diff(t) <= 0):
            raise UsageError("--times must be non-negative and strictly increasing")
        if args.t_max is not None and args.t_max != t[-1]:
            raise UsageError(f"--t-max {args.t_max:g} disagrees with the last of --times "
                             f"({t[-1]:g}); give one of them")
    if args.rtol is not None and not (np.isfinite(args.rtol) and 0 < args.rtol < 1):
        raise UsageError(f"--rtol must be finite and in (0, 1), got {args.rtol}")
    if args.atol is not None and not (np.isfinite(args.atol) and args.atol >= 0):
        raise UsageError(f"--atol must be finite and >= 0, got {args.atol}")
    try:
        get_method(args.method)
    except ValueError as err:
        raise UsageError(f"--method: {err}") from None
    try:        # the simulator's --dt is also its output grid, so every method takes it there
        resolve(args.method, args.dt, args.rtol, args.atol,
                times_given=args.times is not None and not realise_init)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for name, suffix in (("out", ".npz"), ("csv", ".csv"), ("plot", ".png"), ("latex", ".tex")):
        path = getattr(args, name, None)
        if path is None:
            continue
        if not path.parent.exists():
            raise UsageError(f"--{name}: directory {path.parent} does not exist")
        if path.suffix.lower() != suffix:
            raise UsageError(f"--{name}: expected a file name ending in {suffix}, got {path.name}")
        reason = unwritable(path)
        if reason:
            raise UsageError(f"--{name}: cannot write {path}: {reason}")


#: the exit status of a command line stopped by Ctrl-C (128 + SIGINT, as a shell reports it)
INTERRUPTED = 130


def run_main(prog, main, note="nothing written"):
    """main()'s exit status; Ctrl-C (SIGINT) ends it with one line '<prog>: interrupted; <note>'
    on stderr and status 130.  The computations stop within a fraction of a second (the seeds
    and integrations in flight check for it between compiled calls), and the outputs, written
    atomically at the end, are not written."""
    try:
        return main()
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; {note}", file=sys.stderr)
        return INTERRUPTED


def command_line_setup(prog):
    """What a command line needs before it runs: the Agg backend for its plots (the library
    itself never chooses one), and warnings as one line 'PROG: warning: ...' on stderr."""
    import warnings

    import matplotlib
    matplotlib.use("Agg")

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {message}", file=sys.stderr)
    warnings.showwarning = one_line


def write_outputs(args, result, plot):
    """The files a finished run asked for: --out (.npz and its .json sidecar, `result.save`),
    --csv (`result.to_csv`) and --plot (`plot(path)`), each named on stderr once written."""
    if args.out:
        result.save(args.out)
        print(f"wrote {args.out} and {Path(args.out).with_suffix('.json')}", file=sys.stderr)
    if args.csv:
        result.to_csv(args.csv)
        print(f"wrote {args.csv}", file=sys.stderr)
    if args.plot:
        plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)


def show_required(p, flag):
    """Show `flag` without the brackets of an optional one in p's usage line."""
    import re
    import textwrap
    usage = " ".join(p.format_usage().split(":", 1)[1].replace(f"[{flag}]", flag).split())
    words = re.findall(r"\[[^\]]*\]|--\S+ [A-Z_]+\b|\S+", usage)    # [..] and --flag VALUE whole
    wrapped = textwrap.fill("\n".join(w.replace(" ", "\0") for w in words), width=78,
                            break_on_hyphens=False, break_long_words=False,
                            subsequent_indent=" " * (len(p.prog) + 8))
    p.usage = wrapped.replace("\0", " ").replace("%", "%%")
