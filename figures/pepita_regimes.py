"""Where the paper's "PEPITA ~ AFA" holds: maps over (|F|^2, eta) from the exact-PEPITA ODE.

For each learning rate eta and projection scale |F|^2 the three ODEs -- exact PEPITA (by
quadrature, theory.md 3.6), PEPITA-linearised (3.5) and AFA (3.4) -- are integrated from the same
start to t*, and the maps show (i) |eps_g^AFA - eps_g^PEPITA| / eps_g^PEPITA at t*, (ii) the same
for PEPITA-linearised, (iii) eps_g^PEPITA(t*) / eps_g(0), with the cells where exact PEPITA
diverges before t* hatched and labelled with the time it blew up.

Two families of starts (rows), because a(0) matters (theory.md 2.7, 3.1):
* "random": the order parameters of random weights at D = 500 (the fig2 setting: student "large"
  initialisation, v* = (1, 1)), with F = sigma_F times one Gaussian draw, so that a(0), p and
  |F|^2 scale together and a(0) = O(|F| D^-1/2) is small;
* "aligned": the same student and teacher with an O(1) AF vector, a_k(0) = +-c sqrt(Q_kk |F|^2)
  (c = 0.5, signs alternating over units), p = 0: students that start correlated with F.

Simulation spot checks (exact PEPITA at D = 500 from weights that realise the start exactly,
several seeds) are marked at a few grid points: a white circle where the simulation's eps_g(t*)
agrees with the exact ODE within 3 s.e. + 3 %, a cross where it does not, a black square where
every simulated seed blew up (by the same criterion as the ODE; agreement when the ODE did too).
"""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import odes
import simulate

from . import style
from .common import resolve, sigma_F_of, stats

NAME = "pepita_regimes"

PARAMS = dict(K=2, M=2, D=500, eta_v=None, v_star="ones", init="large", seed=0, t_star=300.0,
              etas=(0.02, 0.05, 0.1, 0.2, 0.4), phis=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
              starts=("random", "aligned"), align=0.5, n_times=24, jobs=2, nodes=None,
              spots=((0.05, 0.1), (0.1, 1.0), (0.4, 3.0)), spot_seeds=8, blowup=1e2)
SMALL = dict(D=100, t_star=20.0, etas=(0.05, 0.3), phis=(0.1, 3.0), starts=("random", "aligned"),
             n_times=8, spots=((0.05, 0.1),), spot_seeds=3)

ODE_RULES = ("pepita", "pepita-lin", "afa")


def start_state(p, phi, family):
    """The start for |F|^2 = phi in family 'random' or 'aligned' (module docstring)."""
    st = odes.State.random(p["K"], p["M"], p["D"], p["seed"], sigma_F=sigma_F_of(phi, p["D"]),
                           v_star=p["v_star"], init=p["init"])
    if family == "random":
        return st
    signs = np.where(np.arange(st.K) % 2 == 0, 1.0, -1.0)
    a = p["align"] * signs * np.sqrt(np.diag(st.Q) * st.phi_F)
    return odes.State(Q=st.Q, R=st.R, T=st.T, v=st.v, v_star=st.v_star, a=a,
                      p=np.zeros(st.M), phi_F=st.phi_F)


def output_times(p):
    """0 and n_times log-spaced times from t*/100 to t*, at which every ODE of the map reports."""
    return np.concatenate([[0.0], np.geomspace(1e-2 * p["t_star"], p["t_star"], p["n_times"])])


def _point(p, times, eta, phi, family):
    """eps_g(t*) of each ODE rule (NaN if diverged) and the time at which exact PEPITA blew up."""
    st = start_state(p, phi, family)
    eps0 = float(odes.eps_g(st.Q, st.R, st.T, st.v, st.v_star))
    out = dict(eps0=eps0, t_div=np.nan)
    for rule in ODE_RULES:
        try:
            with np.errstate(over="ignore", invalid="ignore"):   # states on their way to blowing up
                res = odes.integrate(st, rule, eta, eta_v=p["eta_v"], times=times, progress=False,
                                     stop_above=p["blowup"] * eps0,
                                     nodes=p["nodes"] if rule == "pepita" else None)
            eps = np.concatenate([res.eps_g, np.full(len(times) - len(res.t), np.nan)])
        except odes.IntegrationError as err:
            eps = np.concatenate([err.result.eps_g, np.full(len(times) - len(err.result.t), np.nan)])
        big = np.flatnonzero(~(eps < p["blowup"] * eps0))          # non-finite or blown up
        out[rule] = float(eps[-1]) if big.size == 0 else np.nan
        if rule == "pepita" and big.size:
            out["t_div"] = float(times[big[0]])
    return out


def _spot(p, times, eta, phi, family, ode_eps):
    """Exact PEPITA simulated from weights that realise the cell's start (p['spot_seeds'] seeds),
    against the cell's exact-PEPITA ODE value ode_eps (NaN: the ODE blew up)."""
    import warnings
    st = start_state(p, phi, family)
    seeds = list(range(p["spot_seeds"]))
    weights = [odes.realise(st, p["D"], seed=s) for s in seeds]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simulate.DivergenceWarning)
        sim = simulate.run("pepita", p["K"], p["M"], p["D"], eta, times=times, seeds=seeds,
                           weights=weights, eta_v=p["eta_v"], jobs=p["jobs"], progress=False)
    eps0 = float(odes.eps_g(st.Q, st.R, st.T, st.v, st.v_star))
    # the map's criterion: a seed blew up if it diverged or its eps_g passed blowup x eps_g(0)
    ok = np.all(sim.eps_g < p["blowup"] * eps0, axis=1)
    n_ok = int(ok.sum())
    m, se, _ = (x[-1] for x in stats(np.where(ok[:, None], sim.eps_g, np.nan)))
    if not np.isfinite(ode_eps):        # the ODE blew up: agreement means every seed did too
        agree = n_ok == 0
    else:
        agree = bool(n_ok > 1 and abs(m - ode_eps) <= 3 * se + 0.03 * abs(ode_eps))
    return dict(eta=eta, phi=phi, family=family, sim=float(m), se=float(se), n_ok=int(n_ok),
                ode=float(ode_eps), agree=agree)


def compute(small=None, **overrides):
    p = resolve(PARAMS, SMALL, small, overrides)
    etas, phis = np.asarray(p["etas"], float), np.asarray(p["phis"], float)
    times = output_times(p)
    t0 = time.perf_counter()
    grid = [(i, j, f) for f in p["starts"] for i in range(len(etas)) for j in range(len(phis))]
    with ThreadPoolExecutor(max_workers=p["jobs"]) as pool:
        points = list(pool.map(lambda ijf: _point(p, times, etas[ijf[0]], phis[ijf[1]], ijf[2]),
                               grid))
    maps = {f: {k: np.full((len(etas), len(phis)), np.nan) for k in ODE_RULES + ("eps0", "t_div")}
            for f in p["starts"]}
    for (i, j, f), pt in zip(grid, points):
        for k, x in pt.items():
            maps[f][k][i, j] = x
    t_ode = time.perf_counter() - t0
    spots = []
    for f in p["starts"]:
        for eta, phi in p["spots"]:
            i, j = int(np.argmin(np.abs(etas - eta))), int(np.argmin(np.abs(phis - phi)))
            spots.append(_spot(p, times, etas[i], phis[j], f, maps[f]["pepita"][i, j]))
    return dict(params=p, etas=etas, phis=phis, maps=maps, spots=spots,
                seconds=dict(ode=t_ode, sim=time.perf_counter() - t0 - t_ode))


def _edges(x):
    """Cell edges of log-spaced centres x."""
    lx = np.log(x)
    mid = (lx[1:] + lx[:-1]) / 2 if len(x) > 1 else np.array([])
    first = lx[0] - (mid[0] - lx[0] if len(mid) else 0.5)
    last = lx[-1] + (lx[-1] - mid[-1] if len(mid) else 0.5)
    return np.exp(np.concatenate([[first], mid, [last]]))


def relative_gaps(m):
    """(|AFA - PEPITA| / PEPITA, |pepita-lin - PEPITA| / PEPITA) at t*; NaN where PEPITA diverged."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.abs(m["afa"] - m["pepita"]) / m["pepita"],
                np.abs(m["pepita-lin"] - m["pepita"]) / m["pepita"])


def plot(data):
    from matplotlib.colors import LogNorm
    plt = style.pyplot()
    p, etas, phis = data["params"], data["etas"], data["phis"]
    xe, ye = _edges(phis), _edges(etas)
    rows = list(p["starts"])
    with style.rc():
        fig, axes = plt.subplots(len(rows), 3, figsize=(9.6, 3.0 * len(rows) + 0.6),
                                 layout="constrained", squeeze=False, sharex=True, sharey=True)
        gap_norm = LogNorm(1e-4, 1e1)
        ratio_norm = LogNorm(1e-2, 1e1)
        for r, family in enumerate(rows):
            m = data["maps"][family]
            gaps = relative_gaps(m)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = m["pepita"] / m["eps0"]
            panels = [(gaps[0], gap_norm, "viridis", "|AFA − PEPITA| / PEPITA"),
                      (gaps[1], gap_norm, "viridis", "|PEPITA-lin − PEPITA| / PEPITA"),
                      (ratio, ratio_norm, "RdBu_r", r"PEPITA $\epsilon_g(t^*)/\epsilon_g(0)$")]
            for c, (z, norm, cmap, title) in enumerate(panels):
                ax = axes[r, c]
                mesh = ax.pcolormesh(xe, ye, np.clip(z, norm.vmin, norm.vmax), norm=norm,
                                     cmap=cmap, shading="flat")
                div = ~np.isfinite(m["pepita"])
                for i, j in zip(*np.nonzero(div)):
                    ax.fill_between([xe[j], xe[j + 1]], ye[i], ye[i + 1], facecolor="0.85",
                                    hatch="///", edgecolor="0.45", lw=0)
                    if c == 2:
                        ax.text(np.sqrt(xe[j] * xe[j + 1]), ye[i] * (ye[i + 1] / ye[i]) ** 0.3,
                                style.fmt_num(m["t_div"][i, j], 2), ha="center", va="center",
                                fontsize=6.2, color="0.1")
                for i, j in zip(*np.nonzero(~div)):
                    if c < 2 and np.isfinite(z[i, j]):
                        ax.text(np.sqrt(xe[j] * xe[j + 1]), np.sqrt(ye[i] * ye[i + 1]),
                                f"{z[i, j]:.0e}".replace("e-0", "e-").replace("e+0", "e"),
                                ha="center", va="center", fontsize=5.6,
                                color="w" if z[i, j] < 1e-2 else "k")
                for sp in data["spots"]:
                    if sp["family"] != family:
                        continue
                    j, i = int(np.argmin(np.abs(phis - sp["phi"]))), int(np.argmin(np.abs(etas - sp["eta"])))
                    x = xe[j] * (xe[j + 1] / xe[j]) ** 0.2          # the cell's upper left corner
                    y = ye[i] * (ye[i + 1] / ye[i]) ** 0.78
                    if sp["n_ok"] == 0:
                        ax.plot(x, y, "s", ms=7, mfc="k", mec="w", zorder=5)
                    else:
                        ax.plot(x, y, "o" if sp["agree"] else "X", ms=7,
                                mfc="w" if sp["agree"] else "r", mec="k", mew=0.9, zorder=5)
                ax.set(xscale="log", yscale="log")
                if r == 0:
                    ax.set_title(title, fontsize=8.5)
                if r == len(rows) - 1:
                    ax.set_xlabel(r"$|F|^2$")
                if c == 0:
                    ax.set_ylabel(f"{family} start\n" + r"learning rate $\eta$")
                if r == 0 and c in (1, 2):
                    cb = fig.colorbar(mesh, ax=axes[:, c if c == 2 else slice(0, 2)].ravel().tolist(),
                                      shrink=0.8, pad=0.01)
                    cb.set_label("relative difference at $t^*$" if c == 1 else
                                 r"$\epsilon_g(t^*)/\epsilon_g(0)$", fontsize=8)
        fig.suptitle(f"Where PEPITA ≈ AFA holds (ODEs at t* = {style.fmt_num(p['t_star'])}; "
                     f"K = M = {p['K']}, erf, v* = (1,1), start from D = {p['D']} weights)"
                     + ("  [small run]" if p["small"] else ""), fontsize=9.5)
        fig.text(0.5, -0.01, "hatched: exact PEPITA blows up before t* (ε_g > 100 ε_g(0) or "
                 "non-finite; in the right-hand panels: the time it did); numbers: the value in "
                 "the cell.\nSimulations of exact PEPITA at D = %d from the cell's start (%d "
                 "seeds): ○ agree with the exact ODE (3 s.e. + 3 %%), × do not, ■ every seed blew "
                 "up (as the ODE did)" % (p["D"], p["spot_seeds"]), ha="center", va="top",
                 fontsize=7, color="0.3", linespacing=1.4)
    return style.fixed_layout(fig)


def summary(data):
    p = data["params"]
    lines = [f"t*={p['t_star']:g}, D={p['D']}, K=M={p['K']}, etas={list(p['etas'])}, "
             f"phis={list(p['phis'])}; ODEs {data['seconds']['ode']:.0f} s, spot simulations "
             f"{data['seconds']['sim']:.0f} s"]
    for family, m in data["maps"].items():
        gaps = relative_gaps(m)
        div = ~np.isfinite(m["pepita"])
        ok = np.isfinite(gaps[0])
        lines.append(f"{family}: exact PEPITA diverges in {int(div.sum())} of {div.size} cells; "
                     f"AFA within 10 % in {int(np.sum(gaps[0][ok] < 0.1))} of {int(ok.sum())} "
                     f"stable cells, pepita-lin within 10 % in {int(np.sum(gaps[1][ok] < 0.1))}")
    for sp in data["spots"]:
        ode = f"{sp['ode']:.4g}" if np.isfinite(sp["ode"]) else "blew up"
        lines.append(f"spot {sp['family']} eta={sp['eta']:g} |F|^2={sp['phi']:g}: simulation "
                     f"{sp['sim']:.4g} +- {sp['se']:.2g} ({sp['n_ok']} of {p['spot_seeds']} seeds "
                     f"finite), exact ODE {ode}: {'agree' if sp['agree'] else 'DISAGREE'}")
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
