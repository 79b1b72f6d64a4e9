"""Command line: ``python -m simulate --rule afa --K 2 --M 2 --eta 0.05 --t-max 1000 --D 500``.

Takes the flags of ``python -m odes`` (shared through `odes.command_line.add_run_arguments`) plus --seeds,
--jobs, --ode/--no-ode, --also and --n-test (no --stop-eps).  The simulation starts from random
weights, or with --init ic.json from weights in dimension --D that realise that state exactly
(theory.md 3.7; each seed its own random rotation).  Simulates the seeds, integrates the rule's
ODE (and the --also rules') from each seed's initial order parameters and prints simulation
mean +- s.e. next to the ODE.  --out writes .npz (t, eps_g and eps_g_ode of shape seeds x times, the order parameters per
seed) with a .json sidecar, --csv a per-time table, --plot ODE lines over simulation markers.
Bad input: a one-line message on stderr, exit status 2, nothing written.  A run whose every seed
diverges: the table up to the divergence, a message, exit status 1, nothing written.
"""
import argparse
import sys
from pathlib import Path

from odes.command_line import (UsageError, Parser, add_run_arguments, check_run_arguments,
                      command_line_setup, mirror_keywords, positive_int, write_outputs)
from odes.rules import RULES
from odes.solvers import DEFAULTS
from odes.state import StateError

from .run import SAMPLERS

PROG = "python -m simulate"


def nonneg_int(s):
    x = int(s)
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {s}")
    return x


def build_parser():
    p = Parser(prog=PROG,
                description="Online SGD of a two-layer teacher-student network (erf, linear or ReLU activation) "
                            "for BP, FA, AFA, PEPITA-linearised or exact PEPITA, over several "
                            "seeds, compared with the order-parameter ODE.")
    add_run_arguments(p, tuple(RULES))
    p.add_argument("--seeds", type=positive_int, default=8, help="number of seeds (default 8), "
                   "--seed, --seed+1, ...")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker threads (default 2)")
    p.add_argument("--ode", action=argparse.BooleanOptionalAction, default=True,
                   help="integrate the ODE from each seed's initial state (default on)")
    p.add_argument("--also", default="",
                   help="comma-separated further ODE rules drawn from the same starts, e.g. "
                        "--also afa,pepita-lin for a pepita run")
    p.add_argument("--init", type=Path, default=None,
                   help="JSON state (as for python -m odes --init) that every seed's weights "
                        "realise exactly in dimension --D")
    p.add_argument("--n-test", type=nonneg_int, default=0,
                   help="also record the Monte-Carlo test error on this many held-out inputs "
                        "(weights sampler only)")
    p.add_argument("--sampler", choices=SAMPLERS, default="weights",
                   help="weights: the D-dimensional network (default); overlaps: the exact "
                        "overlap chain, the same law for every order parameter at a cost per step "
                        "independent of D (theory.md 10.1)")
    return p


def parse(argv):
    args = build_parser().parse_args(argv)
    check_run_arguments(args, realise_init=True)
    if args.also and not args.ode:
        raise UsageError("--also draws further ODE lines; it cannot go with --no-ode")
    if args.sampler == "overlaps" and args.n_test:
        raise UsageError("--n-test: a held-out test set needs the weights, which --sampler "
                         "overlaps does not keep")
    return args


def initial_state(args):
    """None (random weights), or the --init state (which the weights sampler realises per seed in
    dimension D and the overlaps sampler starts from); sets args.K, args.M from the state."""
    from odes.state import State
    if args.init is None:
        args.K, args.M = args.K or 2, args.M or 2
        return None
    state = State.from_json(args.init)
    for name, given, found in (("K", args.K, state.K), ("M", args.M, state.M)):
        if given is not None and given != found:
            raise UsageError(f"--init has {name}={found}, but --{name} {given} was given")
    args.K, args.M = state.K, state.M
    state.check_rule(args.rule)
    from odes.rules import get_rule
    if get_rule(args.rule).uses_F and state.phi_F is None:
        raise UsageError(f"--init: phi_F is needed to build F for a {args.rule} simulation")
    return state


def main(argv=None):
    from .comparison import compare

    command_line_setup(PROG)
    try:
        args = parse(argv)
        state = initial_state(args)
        cmp = compare(args.rule, args.K, args.M, args.D, args.eta, t_max=args.t_max,
                      times=args.times, seeds=args.seeds, seed=args.seed, jobs=args.jobs,
                      eta_v=args.eta_v, sigma=args.sigma, train_v=not args.freeze_v,
                      sigma_F=args.sigma_F, init=args.student_init, v_star=args.v_star,
                      ode=args.ode, also=args.also, method=args.method,
                      dt=DEFAULTS["dt"] if args.dt is None else args.dt,
                      rtol=args.rtol, atol=args.atol, nodes=args.nodes, n_test=args.n_test,
                      state=state, weight_decay=args.weight_decay, activation=args.activation,
                      progress=False if args.quiet else None, sampler=args.sampler,
                      **mirror_keywords(args))
    except (UsageError, StateError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    if args.init is not None:
        cmp.sim.params.update(init_file=str(args.init), initial_state=cmp.sim.state(0, 0).to_dict())
    print(cmp.table("eps_g"))
    if args.n_test:
        print("\n".join(line for line in cmp.table("eps_test").splitlines()
                        if not line.startswith("#")))
    sim = cmp.sim
    for s, status, t_div in zip(sim.seeds, sim.status, sim.t_diverged):
        if status != "ok":
            print(f"# seed {s}: {status} at t = {t_div:g}")
    if cmp.ode is not None:
        lines = [(cmp.ode_rule, cmp.ode_status, cmp.ode_messages)]
        lines += [(r, cmp.also_status[r], cmp.also_messages[r]) for r in cmp.also]
        for name, statuses, messages in lines:
            for s, status, msg in zip(sim.seeds, statuses, messages):
                if status not in ("finished", "stopped"):
                    print(f"# {name} ODE from seed {s}: {msg}")
    if sim.n_diverged == sim.n_seeds:
        print(f"{PROG}: every seed diverged (the last at t = {max(sim.t_diverged):g}); "
              f"try a smaller --eta or F scale; nothing written", file=sys.stderr)
        return 1
    write_outputs(args, cmp, cmp.plot)
    return 0
