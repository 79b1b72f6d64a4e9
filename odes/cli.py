"""Command line: ``python -m odes --rule bp --K 2 --M 2 --eta 0.05 --t-max 1000``.

Prints a table of t, eps_g and the angles; --out writes .npz + .json, --csv a table, --plot a PNG.
Bad input: a one-line message on stderr, exit status 2, nothing written.  A run that diverges:
a one-line message, exit status 1, nothing written.
"""
import sys
from pathlib import Path

import numpy as np

from .command_line import (Parser, UsageError, add_run_arguments, check_run_arguments,
                           command_line_setup, mirror_keywords, show_required, write_outputs)


def format_table(columns, rows):
    head = "  ".join(f"{c:>12}" for c in columns)
    lines = [head]
    for row in rows:
        lines.append("  ".join(f"{x:12.6g}" if np.isfinite(x) else f"{'-':>12}" for x in row))
    return "\n".join(lines)


def print_table(res, args):
    names = ["t", "eps_g"] + [f"theta_{k}" for k in res.angles]
    rows = np.column_stack([res.t, res.eps_g] + list(res.angles.values()))
    print(f"# {res.rule.description}; K={res.K} M={res.M} eta={args.eta}; {res.status}: {res.message}")
    print(format_table(names, rows))


def build_parser():
    from .rules import ODE_RULES
    p = Parser(prog="python -m odes",
                description="Integrate the order-parameter ODEs of a two-layer teacher-student "
                            "network (erf, linear or ReLU activation) for BP, FA, AFA, PEPITA-linearised or exact PEPITA.")
    add_run_arguments(p, ODE_RULES, eta_required=False)
    p.add_argument("--init", type=Path, default=None,
                   help="JSON initial condition (keys Q, R, T, v, v_star and b, a, p, phi_F as the "
                        "rule needs); default: the order parameters of random weights (--seed, --D)")
    p.add_argument("--stop-eps", type=float, default=None, help="stop once eps_g falls below this")
    p.add_argument("--latex", type=Path, default=None, metavar="FILE.tex",
                   help="instead of integrating, write the ODEs of --rule for --K, --M (derived by "
                        "sympy, with a preamble defining the integrals) to this .tex file")
    p.add_argument("--fixed-point", action="store_true",
                   help="instead of integrating, find the fixed point nearest the initial state and "
                        "print it, eps_g there and the eigenvalues of its Jacobian; with --D N also "
                        "the predicted seed-to-seed std of eps_g at D = N if it is stable")
    show_required(p, "--eta ETA")
    return p


def print_fixed_point(fp, args, D=None):
    st = fp.state
    v_note = "" if fp.params["train_v"] else ", v frozen"
    print(f"# fixed point of {args.rule}: K={st.K} M={st.M} eta={args.eta}{v_note}; "
          f"residual max|dy/dt| = {fp.residual:.2g}")
    print(f"eps_g = {fp.eps_g:.10g}")
    for name in ("Q", "R", "v", "a", "p", "phi_F"):
        x = getattr(st, name)
        if x is not None and (name in "QRv" or f"{name}[0]" in fp.coordinates
                              or name in fp.coordinates):
            print(f"{name} = {np.array2string(x, precision=8, separator=', ', max_line_width=10**4)}")
    print(f"eigenvalues of the Jacobian in the physical coordinates ({', '.join(fp.coordinates)}), "
          f"largest real part first; {fp.unstable} unstable:")
    for lam in fp.eigenvalues:
        print(f"  {lam.real: .8e}" + (f" {lam.imag:+.8e}i" if lam.imag else ""))
    if D is not None:                   # the stationary fluctuations at that D (theory.md 10.2)
        from .finite_d import stationary
        if fp.unstable:
            print(f"no stationary fluctuations at D = {D}: the fixed point is unstable")
        else:
            try:
                std = stationary(fp, nodes=args.nodes).std("eps_g", D)
                print(f"seed-to-seed std of eps_g at D = {D} (stationary, linear-noise "
                      f"approximation): {std:.6g}")
            except ValueError as err:
                print(f"no stationary fluctuations at D = {D}: {err}")


def main(argv=None):
    from .fixed_points import FixedPointError, fixed_point
    from .integrate import IntegrationError, integrate
    from .plot import plot_result
    from .state import State, StateError

    command_line_setup("python -m odes")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        # --D with --fixed-point is the dimension of the predicted fluctuations, with --init too
        fluct_D = args.D if args.fixed_point else None
        if args.fixed_point and args.init is not None:
            args.D = None
        check_run_arguments(args)
        if args.init is not None:
            state = State.from_json(args.init)
            for name, given, found in (("K", args.K, state.K), ("M", args.M, state.M)):
                if given is not None and given != found:
                    raise UsageError(f"--init has {name}={found}, but --{name} {given} was given")
        else:
            state = State.random(args.K, args.M, args.D, args.seed, init=args.student_init,
                                 v_star=args.v_star, sigma_F=args.sigma_F, train_v=not args.freeze_v)
        if args.latex is not None:
            from .io import atomic_write
            from .symbolic import latex_document
            text = latex_document(args.rule, state.K, state.M, train_v=not args.freeze_v,
                                  noise=args.sigma > 0)
            with atomic_write(args.latex) as fh:
                fh.write(text)
            print(f"wrote {args.latex}", file=sys.stderr)
            return 0
        if args.fixed_point:
            for name in ("out", "csv", "plot", "t_max", "times", "stop_eps"):
                if getattr(args, name) is not None:
                    raise UsageError(f"--{name.replace('_', '-')} is for integrations, not with "
                                     f"--fixed-point")
            mirror = mirror_keywords(args)
            if mirror.pop("pre_mirror"):
                raise UsageError("--pre-mirror is for integrations, not with --fixed-point")
            fp = fixed_point(state, args.rule, args.eta, eta_v=args.eta_v, sigma=args.sigma,
                             train_v=not args.freeze_v, nodes=args.nodes,
                             weight_decay=args.weight_decay, activation=args.activation,
                             **mirror)
            print_fixed_point(fp, args, fluct_D)
            return 0
        res = integrate(state, args.rule, args.eta, times=args.times, t_max=args.t_max,
                        eta_v=args.eta_v, sigma=args.sigma, train_v=not args.freeze_v,
                        method=args.method, dt=args.dt, rtol=args.rtol, atol=args.atol,
                        stop_eps=args.stop_eps, nodes=args.nodes, weight_decay=args.weight_decay,
                        activation=args.activation, progress=None if not args.quiet else False,
                        **mirror_keywords(args))
    except (UsageError, StateError, ValueError) as err:
        print(f"python -m odes: error: {err}", file=sys.stderr)
        return 2
    except IntegrationError as err:
        if err.result is not None and len(err.result.t):
            print_table(err.result, args)
        print(f"python -m odes: {err}", file=sys.stderr)
        return 1
    except FixedPointError as err:
        print(f"python -m odes: {err}", file=sys.stderr)
        return 1
    res.params.update(seed=None if args.init else args.seed, D=None if args.init else args.D,
                      sigma_F=args.sigma_F, phi_F_scale=args.phi_F, student_init=args.student_init,
                      v_star_init=args.v_star,
                      init_file=str(args.init) if args.init else None)
    print_table(res, args)
    write_outputs(args, res, lambda path: plot_result(res, path))
    return 0
