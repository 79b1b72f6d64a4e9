"""Weight mirroring and the Forward-Forward view of PEPITA in the teacher-student model (theory.md
11.1, 11.2).

At the Figure-2 setting (D = 500, eta = eta_v = 0.05, K = M = 2, erf, v* = (1, 1), "large" student
initialisation) and |F|^2 = 0.005, the scale of the paper's code (sigma_F = 0.05 sqrt(2/D)), where
plain PEPITA learns slowly:

Top row, PEPITA with and without weight mirroring (B = 8 noise inputs of unit variance per step):
  * PEPITA (F fixed);
  * + WM with the paper's fixed norm of F, eta_M = 0.01 and 0.1;
  * + WM without the rescaling (F's decay kappa_M = 1: |F|^2 is free to grow);
  * + 100 time units of pre-mirroring (W and v frozen) before the first.
Columns: eps_g, theta_net (the angle between F and W^T v, the paper's Figure-3c angle), |a| and
|F|^2 = phi_F.

Bottom row, Forward-Forward (rule 'ff', the modulated pass positive, theta = 1) beside PEPITA
Hebbian (the paper's own FF-like form) and PEPITA: eps_g at |F|^2 = 0.005, and eps_g, theta_net
and |a| at |F|^2 = 0.5.

Markers: simulation (mean +- s.e. over the seeds); lines: each curve's own ODE from every seed's
measured initial state (with pre-mirroring, from the state after it, t = 0 being the start of
learning).  `summary` states what the model says about the paper's claims.
"""
import time

import numpy as np

import simulate

from . import style
from .common import log_times, resolve, sigma_F_of, stats

NAME = "pepita_mirroring"

PARAMS = dict(K=2, M=2, D=500, eta=0.05, eta_v=None, phi_F=0.005, phi_F_ff=0.5,
              mirror_etas=(0.01, 0.1), mirror_batch=8, mirror_noise=1.0, free_decay=1.0,
              pre_mirror=100.0, ff_theta=1.0, v_star="ones", init="large", t_max=5e3,
              n_times=28, seeds=3, seed=0, jobs=2, nodes=12)
SMALL = dict(D=100, t_max=100.0, n_times=10, seeds=2, nodes=8, pre_mirror=5.0)

MIRROR_STYLE = {"pepita": dict(colour=style.colour("pepita"), marker="o"),
                "wm1": dict(colour="#1f77b4", marker="s"), "wm2": dict(colour="#9467bd", marker="^"),
                "free": dict(colour="#2ca02c", marker="v"), "pre": dict(colour="#ff7f0e", marker="D")}
FF_STYLE = {rule: dict(colour=style.colour(rule), marker=m)
            for rule, m in (("pepita", "o"), ("pepita-hebbian", "s"), ("ff", "D"))}


def mirror_curves(p):
    """(key, label, keywords of simulate.compare) of the top row's curves."""
    e1, e2 = p["mirror_etas"]
    wm = dict(mirror_batch=p["mirror_batch"], mirror_noise=p["mirror_noise"])
    return [("pepita", "PEPITA (F fixed)", {}),
            ("wm1", rf"+ WM, fixed $|F|$, $\eta_M$={e1:g}",
             dict(wm, mirror_eta=e1, mirror_fixed_norm=True)),
            ("wm2", rf"+ WM, fixed $|F|$, $\eta_M$={e2:g}",
             dict(wm, mirror_eta=e2, mirror_fixed_norm=True)),
            ("free", rf"+ WM, free $|F|$ ($\kappa_M$={p['free_decay']:g}), $\eta_M$={e1:g}",
             dict(wm, mirror_eta=e1, mirror_decay=p["free_decay"])),
            ("pre", rf"+ pre-mirroring $t$={p['pre_mirror']:g}, then as $\eta_M$={e1:g}",
             dict(wm, mirror_eta=e1, mirror_fixed_norm=True, pre_mirror=p["pre_mirror"]))]


def _arrays(cmp, which):
    return dict(eps_g=cmp.get("eps_g", which), net=cmp.get("net", which),
                a=np.linalg.norm(cmp.get("a", which), axis=-1),
                phi_F=(cmp.get("phi_F", which) if cmp.sim.mirrored
                       else np.broadcast_to(cmp.sim.phi_F[:, None], cmp.get("eps_g").shape)))


def compute(small=None, **overrides):
    p = resolve(PARAMS, SMALL, small, overrides)
    times = log_times(p["t_max"], p["n_times"])
    common = dict(seeds=p["seeds"], seed=p["seed"], jobs=p["jobs"], eta_v=p["eta_v"],
                  v_star=p["v_star"], init=p["init"], nodes=p["nodes"], progress=False,
                  finite_d=False)
    t0 = time.perf_counter()
    runs = {}
    for key, _, kw in mirror_curves(p):
        cmp = simulate.compare("pepita", p["K"], p["M"], p["D"], p["eta"], times=times,
                               sigma_F=sigma_F_of(p["phi_F"], p["D"]), **common, **kw)
        runs[("wm", key)] = dict(sim=_arrays(cmp, "sim"), ode=_arrays(cmp, "ode"),
                                 ode_status=list(cmp.ode_status), n_diverged=cmp.sim.n_diverged)
    for phi in (p["phi_F"], p["phi_F_ff"]):
        for rule in FF_STYLE:
            kw = dict(ff_theta=p["ff_theta"]) if rule == "ff" else {}
            cmp = simulate.compare(rule, p["K"], p["M"], p["D"], p["eta"], times=times,
                                   sigma_F=sigma_F_of(phi, p["D"]), **common, **kw)
            runs[(phi, rule)] = dict(sim=_arrays(cmp, "sim"), ode=_arrays(cmp, "ode"),
                                     ode_status=list(cmp.ode_status),
                                     n_diverged=cmp.sim.n_diverged)
    return dict(params=p, t=cmp.t, runs=runs, seconds=time.perf_counter() - t0)


def _curve(ax, t, run, name, st, label=None):
    pos = t > 0
    ax.plot(t[pos], stats(run["ode"][name])[0][pos], "-", color=st["colour"], lw=1.5, zorder=3,
            label=label)
    m, se, _ = stats(run["sim"][name])
    style.sim_markers(ax, t[pos], m[pos], se[pos], None, marker=st["marker"], every=2, ms=3.6,
                      zorder=2, filled=False, colour_=st["colour"])


def _axis(ax, t, name, label):
    pos = t > 0
    style.log_time_axis(ax, t[pos][0], t[-1])
    if name in ("eps_g", "a", "phi_F"):
        ax.set_yscale("log")
    if name == "net":
        style.angle_axis(ax, label)
    else:
        ax.set_ylabel(label)


LABELS = {"eps_g": r"$\epsilon_g$", "net": r"$\theta_{\rm net}$ = $\theta(F, W^T v)$ (degrees)",
          "a": r"$|a|$, AF vector", "phi_F": r"$|F|^2$"}


def plot(data):
    plt = style.pyplot()
    p, t = data["params"], data["t"]
    with style.rc():
        fig, axes = plt.subplots(2, 4, figsize=(12.4, 6.0), layout="constrained")
        for col, name in enumerate(("eps_g", "net", "a", "phi_F")):
            ax = axes[0, col]
            for key, label, _ in mirror_curves(p):
                _curve(ax, t, data["runs"][("wm", key)], name, MIRROR_STYLE[key],
                       label if col == 0 else None)
            _axis(ax, t, name, LABELS[name])
            ax.set_title(rf"PEPITA $\pm$ weight mirroring, $|F|^2(0)$ = {p['phi_F']:g}",
                         fontsize=8, loc="left")
        axes[0, 0].legend(fontsize=6.2, loc="lower left")
        panels = [(p["phi_F"], "eps_g"), (p["phi_F_ff"], "eps_g"), (p["phi_F_ff"], "net"),
                  (p["phi_F_ff"], "a")]
        for col, (phi, name) in enumerate(panels):
            ax = axes[1, col]
            for rule, st in FF_STYLE.items():
                label = (rf"{style.label(rule)} ($\theta$ = {p['ff_theta']:g}, modulated pass "
                         "positive)" if rule == "ff" else style.label(rule))
                _curve(ax, t, data["runs"][(phi, rule)], name, st, label if col == 0 else None)
            _axis(ax, t, name, LABELS[name])
            ax.set_title(rf"FF view, $|F|^2$ = {phi:g}", fontsize=8, loc="left")
        axes[1, 0].legend(fontsize=6.2, loc="lower left")
        fig.suptitle(f"Weight mirroring and Forward-Forward, teacher-student: D={p['D']}, "
                     f"$\\eta$={p['eta']}, K=M={p['K']}, erf, v*=(1,1), {p['seeds']} seeds, "
                     f"B={p['mirror_batch']} noise inputs per step; lines ODE, markers simulation"
                     + ("  [small run]" if p["small"] else ""), fontsize=9)
    return style.fixed_layout(fig)


def findings(data):
    """Numbers behind the caption: per curve (ODE seed means) eps_g and theta_net at t_max and the
    smallest theta_net, and |a| and phi_F at t_max."""
    out = {}
    for key, run in data["runs"].items():
        ode = run["ode"]
        net = stats(ode["net"])[0]
        out[key] = dict(eps_end=float(stats(ode["eps_g"])[0][-1]), net_end=float(net[-1]),
                        net_min=float(np.nanmin(net)), net_start=float(net[0]),
                        a_end=float(stats(ode["a"])[0][-1]),
                        phi_end=float(stats(ode["phi_F"])[0][-1]))
    return out


def summary(data):
    p = data["params"]
    f = findings(data)
    lines = [f"{NAME}: D={p['D']} eta={p['eta']} t_max={p['t_max']:g} seeds={p['seeds']}, "
             f"{data['seconds']:.0f} s; ODE seed means at t_max (eps_g, theta_net, |a|, |F|^2):"]
    plain = dict(pepita="PEPITA", wm1=f"WM fixed norm eta_M={p['mirror_etas'][0]:g}",
                 wm2=f"WM fixed norm eta_M={p['mirror_etas'][1]:g}",
                 free=f"WM free norm kappa_M={p['free_decay']:g}",
                 pre=f"pre-mirroring t={p['pre_mirror']:g} + WM")
    for key, _, _ in mirror_curves(p):
        v = f[("wm", key)]
        lines.append(f"  {plain[key]}: {v['eps_end']:.4f}, {v['net_end']:.1f} deg "
                     f"(from {v['net_start']:.1f}), {v['a_end']:.3f}, {v['phi_end']:.4f}")
    for phi in (p["phi_F"], p["phi_F_ff"]):
        lines.append(f"  |F|^2 = {phi:g}: " + "; ".join(
            f"{rule} {f[(phi, rule)]['eps_end']:.4f}, {f[(phi, rule)]['net_end']:.1f} deg"
            for rule in FF_STYLE))
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
