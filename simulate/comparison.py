"""Simulation against theory in one call: `compare(...) -> Comparison`.

The seeds are simulated with `simulate.run`; then, for each seed, the order-parameter ODE of the
same rule is integrated with `odes.integrate` from that seed's *measured* initial order parameters
(the per-seed handoff of theory.md section 3.7) and evaluated at the simulation's record times.
Exact PEPITA's ODE is evaluated by quadrature (theory.md 3.6).  Further theory lines from the same
starts (`also`, e.g. the AFA and PEPITA-linearised approximations of a PEPITA run) are kept beside
the main one, each with its own paired deviation.

Deviations are paired: d_s(t) = sim_s(t) - ode_s(t) for each seed s, whose mean and standard error
across seeds measure how far the finite-D simulation is from the D -> infinity theory without the
seed-to-seed spread of the initial conditions.
"""

import threading

import numpy as np
from tqdm.auto import tqdm

import odes
from odes import io
from odes.divergence import BLOWUP
from odes.solvers import DEFAULT_METHOD, resolve
from odes.rhs.parameters import check_activation
from odes.rhs.mirroring import KEYWORDS
from odes.rules import FF_KEYWORDS, RULES, get_rule

from .result import Simulation, seed_stats
from .run import run

def rule_options(params, rule):
    """The keywords of weight mirroring and Forward-Forward that the ODE (or the finite-D theory)
    of `rule` takes from a simulation's parameters: mirroring's if the rule has F, but pre_mirror
    (the handoff is at the start of learning, after it), and Forward-Forward's for the rule ff."""
    keys = (KEYWORDS[:-1] if rule.uses_F else ()) + (FF_KEYWORDS if rule.ff else ())
    return {k: params[k] for k in keys if k in params}

def check_also(rule, also):
    """The extra theory rules `also` (names or a comma-separated string) for a simulation of
    `rule`, validated: each must have what its ODE needs in the simulated state (a for the
    adaptive rules, b for FA) and differ from `rule`.

    Parameters
    ----------
    rule : str or Rule
        The simulated rule.
    also : str or iterable of str
        Rule names, e.g. ('afa', 'pepita-lin') or "afa, pepita-lin".

    Returns
    -------
    tuple of str
        The names, each once, in the order given.

    Raises
    ------
    ValueError
        For an unknown rule, an adaptive rule's ODE for a simulation without the AF vector a, the
        fa ODE for a simulation without b, or `rule` itself.

    Examples
    --------
    >>> import simulate
    >>> simulate.check_also("pepita", "afa, pepita-lin")
    ('afa', 'pepita-lin')
    """
    rule = get_rule(rule) if isinstance(rule, str) else rule
    names = [x.strip() for x in also.split(",") if x.strip()] if isinstance(also, str) else list(also)
    out = []
    for name in names:
        other = get_rule(name)
        if other.uses_F and not rule.uses_F:
            adaptive = ", ".join(r.name for r in RULES.values() if r.uses_F)
            raise ValueError(f"also: the {other.name} ODE needs the AF vector a; a {rule.name} "
                             f"simulation has none (simulate one of {adaptive})")
        if other.feedback_name == "b" and rule.feedback_name != "b":
            raise ValueError(f"also: the fa ODE needs b; a {rule.name} simulation has none")
        if other.name == rule.name:
            raise ValueError(f"also: {other.name} is already the main theory line")
        if other.name not in out:
            out.append(other.name)
    return tuple(out)


def _same_state(x, y, atol=1e-12):
    """Whether two states have the same order parameters to `atol`."""
    a, b = x.to_dict(), y.to_dict()
    return a.keys() == b.keys() and all(
        np.allclose(a[k], b[k], rtol=0, atol=atol) for k in a)


def integrate_seeds(sim, ode_rule, *, method=DEFAULT_METHOD, dt=None, rtol=None, atol=None,
                    nodes=None, jobs=2, progress=None):
    """The ODE of `ode_rule` from each seed's initial state, at the simulation's times, on `jobs`
    threads (the compiled integrators release the GIL).

    Seeds whose initial states agree to 1e-12 (weights that realise one given state) share one
    integration.  The ODE's parameters (eta, eta_v, sigma, train_v, weight_decay, activation,
    blowup) are the simulation's.

    Parameters
    ----------
    sim : Simulation
        The simulation; each seed's initial state is ``sim.state(s, 0)``.
    ode_rule : str
        The rule whose ODE to integrate; its state must be in the simulation (a for the
        adaptive rules, b for FA).
    method : str, default 'dopri5'
        The ODE method (`odes.integrate`).
    dt, rtol, atol : float, optional
        Its options, for the methods that take them (`odes.integrate`).
    nodes : int, optional
        The quadrature nodes of the rules evaluated by quadrature (`odes.integrate`).
    jobs : int, default 2
        Threads.
    progress : bool, optional
        A bar over the integrations (default: shown after 2 s).

    Returns
    -------
    arrays : dict of str to ndarray
        'eps_g', 'Q', 'R', 'v', 'f' (where the rule has a feedback vector) and 'theta_<name>' to
        (S, n, ...) arrays, NaN after an ODE solution that diverged (status 'diverged').
    status : list of str
        Per seed, the ODE's status.
    messages : list of str
        Per seed, how the ODE ended.
    t_diverged : list of float or None
        When, per seed (None where it did not).

    Raises
    ------
    ValueError
        If the simulated state lacks what the ODE needs (the AF vector, or b), or for an option
        the method refuses.
    """
    from concurrent.futures import ThreadPoolExecutor
    p = sim.params
    S, n = sim.n_seeds, len(sim.t)
    rule = get_rule(ode_rule)
    states = [sim.state(s, 0) for s in range(S)]
    for state in states:
        if rule.uses_F and state.a is None:
            raise ValueError(f"the {ode_rule} ODE needs the AF vector; simulate an adaptive rule")
        if rule.feedback_name == "b" and state.b is None:
            raise ValueError(f"the {ode_rule} ODE needs b; simulate 'fa'")

    cancel = threading.Event()          # set on Ctrl-C, which reaches only this thread
    mirror = rule_options(p, rule)

    def one(state):
        try:
            res = odes.integrate(state, rule, p["eta"], times=sim.t, eta_v=p["eta_v"],
                                 sigma=p["sigma"], train_v=p["train_v"], method=method, dt=dt,
                                 rtol=rtol, atol=atol, nodes=nodes if rule.exact_pepita else None,
                                 weight_decay=p.get("weight_decay", 0.0),
                                 activation=p.get("activation", "erf"), progress=False,
                                 blowup=p.get("blowup", BLOWUP), cancel=cancel, **mirror)
        except odes.IntegrationError as err:
            return err.result, err.result.status, str(err)
        return res, res.status, res.message

    shapes = dict(eps_g=(), Q=(sim.K, sim.K), R=(sim.K, sim.M), v=(sim.K,), f=(sim.K,),
                  p=(sim.M,), phi_F=())
    out = {k: np.full((S, n) + shp, np.nan) for k, shp in shapes.items()}
    t_diverged = [None] * S
    angles, status, messages = {}, [], []
    firsts, which = [], []             # the distinct initial states, and each seed's
    for state in states:
        same = [j for j, i in enumerate(firsts) if _same_state(states[i], state)]
        if not same:
            firsts.append(len(which))
        which.append(same[0] if same else len(firsts) - 1)
    with tqdm(total=len(firsts), disable=progress is False, delay=0.0 if progress else 2.0,
              desc=f"ODE {ode_rule}", leave=False) as bar, \
            ThreadPoolExecutor(max_workers=max(1, min(int(jobs), S))) as pool:   # bar after 2 s
        futures = [pool.submit(one, states[i]) for i in firsts]
        for f in futures:
            f.add_done_callback(lambda _: bar.update(1))
        try:
            results = [f.result() for f in futures]
        except KeyboardInterrupt:
            cancel.set()
            raise
        for s in range(S):
            res, st, msg = results[which[s]]
            status.append(st)
            t_diverged[s] = res.t_diverged
            messages.append(msg)
            m = len(res.t)
            out["eps_g"][s, :m] = res.eps_g
            out["Q"][s, :m], out["R"][s, :m], out["v"][s, :m] = res.Q, res.R, res.v
            if rule.feedback_name:
                out["f"][s, :m] = res.f
            if res.mirrored:
                out["p"][s, :m], out["phi_F"][s, :m] = res.p, res.phi_F
            for k, x in res.angles.items():
                angles.setdefault(k, np.full((S, n), np.nan))[s, :m] = x
    for k, x in angles.items():
        out[f"theta_{k}"] = x
    if not rule.feedback_name:
        del out["f"]
    if not mirror.get("mirror_eta"):
        del out["p"], out["phi_F"]
    return out, status, messages, t_diverged


class Comparison:
    """A `Simulation` and the ODE integrated from each of its seeds.

    What `compare` returns.  Deviations are paired: d_s(t) = sim_s(t) - ode_s(t) for each seed s
    (`deviation`), so they measure how far the finite-D simulation is from the D -> infinity
    theory without the seed-to-seed spread of the initial conditions.  A theory line is named
    ``which``: 'sim' (the simulation), 'ode' (the rule's own ODE) or an `also` rule.

    Attributes
    ----------
    sim : Simulation
        The simulation.
    ode : dict of str to ndarray, or None
        (S, n, ...) ODE arrays ('eps_g', 'Q', 'R', 'v', 'f', 'theta_<angle>'), or None without
        ODE.
    ode_rule : str or None
        The rule of the ODE.
    note : str
        A note shown at the head of `table`.
    ode_params : dict
        The ODE's method and its options.
    ode_status : list of str
        Per seed, the ODE's status.
    ode_messages : list of str
        Per seed, how the ODE ended.
    ode_t_diverged : list of float or None
        Per seed, when its ODE diverged (None where it did not).
    also : dict of str to dict
        {rule: arrays of the same form} for extra theory lines from the same starts.
    also_status : dict of str to list
        {rule: per-seed list} of statuses.
    also_messages : dict of str to list
        {rule: per-seed list} of messages.
    also_t_diverged : dict of str to list
        {rule: per-seed list} of divergence times.
    t : ndarray
        Shape (n,). The record times (the simulation's).
    params : dict
        The simulation's parameters with ode_rule, also and the ODE's.
    lna : dict of str to ndarray
        The finite-D theory of eps_g along the ODE from each seed's start (theory.md 10.2, 10.3;
        `odes.fluctuations`): 'eps_g_std', the predicted standard deviation of one seed's paired
        deviation (rms over the seeds), 'eps_g_rel_std' the same relative to each seed's ODE, and
        'eps_g_bias', the predicted O(1/D) shift of the seed mean from the ODE; empty if not
        computed (``finite_d=False``, too many distinct starts, or the theory refused the run:
        `lna_note` says why).

    Examples
    --------
    >>> import simulate
    >>> cmp = simulate.compare("afa", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
    >>> d, se, n = cmp.deviation("eps_g")          # paired sim - ODE: mean, s.e., seeds
    >>> print(cmp.table(max_rows=5))
    # afa  K=2 M=2 D=500 eta=0.5 eta_v=0.5 sigma=0.0 seeds=4 diverged=0
             t      eps_g sim  s.e.(sim) n_sim      eps_g ode n_ode     sim-ode s.e.(diff) n_pair
             0       0.960494      0.347     4       0.960494     4           0          0      4
    ...
    >>> path = cmp.save("afa.npz")                 # afa.npz and afa.json
    >>> path = cmp.to_csv("afa.csv")
    >>> fig = cmp.plot("afa.png")
    """

    def __init__(self, sim, ode=None, ode_rule=None, note="", ode_params=None, ode_status=None,
                 ode_messages=None, also=None, also_status=None, also_messages=None,
                 ode_t_diverged=None, also_t_diverged=None, lna=None):
        self.sim, self.ode = sim, ode
        self.lna = dict(lna or {})
        self.ode_rule, self.note = ode_rule, note
        self.ode_params = dict(ode_params or {})
        self.ode_status = list(ode_status or [])
        self.ode_messages = list(ode_messages or [])
        self.also = dict(also or {})
        self.also_status = dict(also_status or {})
        self.also_messages = dict(also_messages or {})
        self.ode_t_diverged = list(ode_t_diverged or [None] * len(self.ode_status))
        self.also_t_diverged = dict(also_t_diverged or {})

    @property
    def t(self):
        return self.sim.t

    @property
    def params(self):
        return dict(self.sim.params, ode_rule=self.ode_rule, also=list(self.also), **self.ode_params)

    @property
    def theories(self):
        """Names of the theory lines: 'ode' (the rule's own ODE) first, then the `also` rules."""
        return (["ode"] if self.ode is not None else []) + list(self.also)

    def __repr__(self):
        extra = f", also={list(self.also)!r}" if self.also else ""
        return f"Comparison({self.sim!r}, ode_rule={self.ode_rule!r}{extra})"

    # ---- arrays and statistics -----------------------------------------------------------------
    def _ode(self, name, which="ode"):
        if which == "ode":
            if self.ode is None:
                raise ValueError("this comparison has no ODE (ode=False)")
            arrays = self.ode
        elif which in self.also:
            arrays = self.also[which]
        else:
            raise KeyError(f"no theory line {which!r}; have {', '.join(self.theories) or 'none'}")
        key = "eps_g" if name == "eps_test" else name     # the theory of the test error is eps_g
        if key not in arrays and f"theta_{key}" in arrays:
            key = f"theta_{key}"
        if key in ("a", "b"):
            key = "f"
        if key not in arrays:
            raise KeyError(f"no ODE quantity {name!r}")
        return arrays[key]

    def get(self, name="eps_g", which="sim"):
        """(S, n, ...) array of `name` from the simulation ('sim'), the rule's ODE ('ode') or an
        extra theory line (its rule name, one of `also`).

        Parameters
        ----------
        name : str, default 'eps_g'
            'eps_g', 'eps_test' (whose theory is eps_g), an order parameter ('Q', 'R', 'v', 'a'
            or 'b') or an angle ('theta_v_vstar' or just 'v_vstar').
        which : str, default 'sim'
            'sim', 'ode' or an `also` rule.

        Returns
        -------
        ndarray, shape (S, n, ...)

        Raises
        ------
        KeyError
            For a quantity or a theory line the comparison does not have.
        ValueError
            For 'ode' when the comparison has no ODE (ode=False).
        """
        return self.sim.get(name) if which == "sim" else self._ode(name, which)

    def mean(self, name="eps_g", which="sim"):
        """Seed mean of the simulation ('sim') over the seeds whose simulation is finite at each
        time, or of a theory line ('ode' or an `also` rule) over the seeds where it is finite.

        Parameters
        ----------
        name : str, default 'eps_g'
            As in `get`.
        which : str, default 'sim'
            'sim', 'ode' or an `also` rule.

        Returns
        -------
        ndarray, shape (n, ...)
        """
        return seed_stats(self.get(name, which))[0]

    def sem(self, name="eps_g", which="sim"):
        """Standard error of `mean`, over the same seeds.

        Parameters
        ----------
        name : str, default 'eps_g'
            As in `get`.
        which : str, default 'sim'
            'sim', 'ode' or an `also` rule.

        Returns
        -------
        ndarray, shape (n, ...)
            NaN where fewer than two seeds are finite.
        """
        return seed_stats(self.get(name, which))[1]

    def deviation(self, name="eps_g", which="ode"):
        """Paired deviation sim - theory per seed ('ode' or an `also` rule): (mean, standard
        error, count) across the seeds where both are finite.

        Parameters
        ----------
        name : str, default 'eps_g'
            As in `get`.
        which : str, default 'ode'
            'ode' or an `also` rule.

        Returns
        -------
        mean : ndarray, shape (n, ...)
            The mean over seeds of d_s(t) = sim_s(t) - theory_s(t).
        sem : ndarray, shape (n, ...)
            Its standard error (NaN where fewer than two seeds count).
        count : ndarray of int, shape (n, ...)
            The number of seeds where both are finite.

        Raises
        ------
        KeyError
            For a quantity or a theory line the comparison does not have (`get`).
        ValueError
            For 'ode' when the comparison has no ODE.

        Examples
        --------
        >>> import simulate
        >>> cmp = simulate.compare("bp", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
        >>> d, se, n = cmp.deviation("eps_g")
        >>> float(d[0]), int(n[0])              # t = 0: each ODE starts from its seed's state
        (0.0, 4)
        """
        return seed_stats(self.get(name, "sim") - self.get(name, which))

    def predicted(self, name="eps_g"):
        """(std, bias) of the finite-D theory for `name` (eps_g only) at the record times: one
        seed's predicted standard deviation around the ODE and the predicted O(1/D) shift of the
        seed mean (`lna`).  KeyError if the comparison has none."""
        if f"{name}_std" not in self.lna:
            raise KeyError(f"no finite-D prediction for {name!r}"
                           + (f" ({self.lna_note})" if self.lna_note else ""))
        return self.lna[f"{name}_std"], self.lna[f"{name}_bias"]

    def z_score(self, name="eps_g"):
        """(mean paired deviation - predicted bias) / (predicted std / sqrt(n_pair)) at the record
        times: how many predicted standard errors the simulation sits from the ODE plus its
        O(1/D) bias (NaN where the predicted std is 0, e.g. at t = 0)."""
        std, bias = self.predicted(name)
        d, _, n = self.deviation(name)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(std > 0, (d - bias) / (std / np.sqrt(n)), np.nan)

    @property
    def lna_note(self):
        return self.ode_params.get("lna_note", "")

    def max_deviation(self, name="eps_g", which="ode"):
        """max over times of ``|mean deviation|`` and of ``|mean deviation| / s.e.``

        Parameters
        ----------
        name : str, default 'eps_g'
            As in `get`.
        which : str, default 'ode'
            'ode' or an `also` rule.

        Returns
        -------
        max_abs : float
            The largest ``|mean deviation|`` over the times where it is finite (0 if none).
        max_z : float
            The largest ``|mean deviation| / s.e.`` there (0 if none is finite).
        """
        d, se, _ = self.deviation(name, which)
        ok = np.isfinite(d)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(d[ok]) / se[ok]
        return float(np.max(np.abs(d[ok]), initial=0.0)), float(np.nanmax(z, initial=0.0))

    def columns(self, name="eps_g"):
        """Per-time statistics of `name` as (column name, (n,) array): the simulation's mean,
        s.e. and seed count n_sim (seeds finite in the simulation), the ODE's mean and n_ode
        (seeds finite in the ODE), and the paired deviation sim - ode with its s.e. and n_pair
        (seeds where both are finite).

        Parameters
        ----------
        name : str, default 'eps_g'
            As in `get`.

        Returns
        -------
        list of (str, ndarray)
            <name>_sim, <name>_sim_se, <name>_n_sim; with an ODE line for `name`, <name>_ode,
            <name>_n_ode, <name>_sim_minus_ode, <name>_sim_minus_ode_se, <name>_n_pair; for each
            `also` rule, <name>_ode_<rule>, <name>_sim_minus_ode_<rule> and its _se.
        """
        m, se, n = seed_stats(self.get(name))
        cols = [(f"{name}_sim", m), (f"{name}_sim_se", se), (f"{name}_n_sim", n)]
        try:
            ode = self.get(name, "ode")
        except (KeyError, ValueError):           # no ODE, or no ODE line for this quantity
            ode = None
        if ode is not None:
            om, _, on = seed_stats(ode)
            d, dse, dn = self.deviation(name)
            cols += [(f"{name}_ode", om), (f"{name}_n_ode", on), (f"{name}_sim_minus_ode", d),
                     (f"{name}_sim_minus_ode_se", dse), (f"{name}_n_pair", dn)]
            if f"{name}_std" in self.lna:
                std, bias = self.predicted(name)
                cols += [(f"{name}_lna_std", std), (f"{name}_lna_bias", bias),
                         (f"{name}_z_lna", self.z_score(name))]
        for rule in self.also:
            try:
                om = seed_stats(self.get(name, rule))[0]
            except KeyError:
                continue
            d, dse, _ = self.deviation(name, rule)
            cols += [(f"{name}_ode_{rule}", om), (f"{name}_sim_minus_ode_{rule}", d),
                     (f"{name}_sim_minus_ode_{rule}_se", dse)]
        return cols

    def table(self, name="eps_g", every=None, max_rows=25):
        """Text table: t, the simulation's mean +- s.e. over the n_sim seeds finite in it, the ODE's
        mean over the n_ode seeds finite in it, and the paired deviation over the n_pair seeds
        where both are finite; then, for each `also` rule, its mean and paired deviation.

        Parameters
        ----------
        name : str, default 'eps_g'
            As in `get`.
        every : int, optional
            Show every `every`-th time.
        max_rows : int, default 25
            Without `every`: at most this many times, evenly spread.

        Returns
        -------
        str
            The table, after a header of the run's parameters (and the `note`).
        """
        n = len(self.t)
        idx = np.arange(n) if n <= max_rows else np.unique(np.linspace(0, n - 1, max_rows).round().astype(int))
        if every:
            idx = np.arange(0, n, every)
        cols = [c for _, c in self.columns(name)]
        lines = []
        if self.note:
            lines.append(f"# {self.note}")
        sim = self.sim
        lines.append(f"# {sim.rule.name}  K={sim.K} M={sim.M} D={sim.params['D']} "
                     f"eta={sim.params['eta']} eta_v={sim.params['eta_v']} sigma={sim.params['sigma']} "
                     f"seeds={sim.n_seeds} diverged={sim.n_diverged}")
        head = f"{'t':>10} {name + ' sim':>14} {'s.e.(sim)':>10} {'n_sim':>5}"
        widths = [14, 10, 5]
        if len(cols) > 3:
            head += f" {name + ' ode':>14} {'n_ode':>5} {'sim-ode':>11} {'s.e.(diff)':>10} {'n_pair':>6}"
            widths += [14, 5, 11, 10, 6]
            if f"{name}_std" in self.lna:         # the finite-D theory: std, bias, z
                head += f" {'std(lna)':>10} {'bias(lna)':>10} {'z(lna)':>7}"
                widths += [10, 10, 7]
        for rule in self.also:
            if len(cols) > len(widths):
                head += f" {rule:>14} {'sim-' + rule:>15} {'s.e.(diff)':>10}"
                widths += [14, 15, 10]
        lines.append(head)
        for i in idx:
            row = f"{self.t[i]:10.4g}"
            for w, c in zip(widths, cols):
                x = c[i]
                if w in (5, 6):
                    row += f" {int(x):{w}d}"
                elif w == 7:
                    row += f" {x:{w}.2f}" if np.isfinite(x) else f" {'-':>{w}}"
                elif np.isfinite(x):
                    row += f" {x:{w}.{6 if w == 14 else 3}g}"
                else:
                    row += f" {'-':>{w}}"
            lines.append(row)
        return "\n".join(lines)

    # ---- persistence and plotting --------------------------------------------------------------
    def arrays(self):
        """The simulation's arrays, the ODE's with suffix _ode and each `also` rule's with suffix
        _also_<rule>."""
        out = self.sim.arrays()
        for which in self.theories:
            arrays = self.ode if which == "ode" else self.also[which]
            suffix = "_ode" if which == "ode" else f"_also_{which}"
            for k, x in arrays.items():
                out[(self.sim.feedback_name if k == "f" else k) + suffix] = x
        for k, x in self.lna.items():
            out[f"{k}_lna"] = x
        return out

    def save(self, path):
        """Arrays (simulation, and ODE with suffix _ode) to .npz and all parameters to .json.

        The arrays are those of `arrays` (each `also` rule's with suffix _also_<rule>); the .json
        sidecar holds the simulation's parameters, seeds and status and every ODE field.  Both
        are written atomically; `Comparison.load` reads them back.

        Parameters
        ----------
        path : str or path-like
            The .npz file (the suffix .npz is used whatever is given); the sidecar is the same
            name with .json.

        Returns
        -------
        pathlib.Path
            The .npz file written.

        Examples
        --------
        >>> import simulate
        >>> cmp = simulate.compare("bp", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
        >>> cmp.save("bp.npz")                            # bp.npz and bp.json
        PosixPath('bp.npz')
        >>> simulate.Comparison.load("bp.npz").ode_rule
        'bp'
        """
        meta = self.sim.metadata()
        meta.update(ode=self.ode is not None, ode_rule=self.ode_rule, note=self.note,
                    ode_params=self.ode_params, ode_status=self.ode_status,
                    ode_messages=self.ode_messages, ode_t_diverged=self.ode_t_diverged,
                    also=list(self.also), also_status=self.also_status,
                    also_messages=self.also_messages, also_t_diverged=self.also_t_diverged)
        return io.save(path, self.arrays(), meta)

    @classmethod
    def load(cls, path):
        """Read a comparison written by `save`.

        Parameters
        ----------
        path : str or path-like
            The .npz file; its .json sidecar must be beside it.

        Returns
        -------
        Comparison
        """
        arr, meta = io.load(path)
        sim = Simulation.from_arrays(arr, meta)
        ode = {} if meta.get("ode") else None
        also = {rule: {} for rule in meta.get("also", [])}
        lna = {}
        for k, x in arr.items():
            if k.endswith("_lna"):
                lna[k[: -len("_lna")]] = x
                continue
            if ode is not None and k.endswith("_ode"):
                key, target = k[: -len("_ode")], ode
            elif "_also_" in k:
                key, rule = k.split("_also_", 1)
                target = also[rule]
            else:
                continue
            target["f" if key == sim.feedback_name else key] = x
        return cls(sim, ode, meta.get("ode_rule"), meta.get("note", ""), meta.get("ode_params"),
                   meta.get("ode_status"), meta.get("ode_messages"), also,
                   meta.get("also_status"), meta.get("also_messages"),
                   meta.get("ode_t_diverged"), meta.get("also_t_diverged"), lna)

    def to_csv(self, path):
        """Per-time table: t, then for eps_g and each angle the columns of `columns` (simulation
        mean, s.e., n_sim; ODE mean, n_ode; paired deviation, its s.e., n_pair; the same for each
        `also` rule).

        Parameters
        ----------
        path : str or path-like
            The CSV file, written (atomically) as named.

        Returns
        -------
        pathlib.Path
            `path`.
        """
        cols = [("t", self.t)]
        for name in ["eps_g"] + [f"theta_{k}" for k in self.sim.angles]:
            cols += self.columns(name)
        return io.save_table(path, cols)

    def plot(self, path=None, **kw):
        """ODE lines over simulation markers with error bars; see `simulate.plot.plot_comparison`.

        Parameters
        ----------
        path : str or path-like, optional
            Save the figure there.
        **kw
            axes of `simulate.plot.plot_comparison`.

        Returns
        -------
        matplotlib.figure.Figure
            A figure outside pyplot (see `odes.plot`).

        Examples
        --------
        >>> import simulate
        >>> cmp = simulate.compare("bp", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
        >>> fig = cmp.plot("bp.png")
        """
        from .plot import plot_comparison
        return plot_comparison(self, path, **kw)


def compare(rule, K, M, D, eta, t_max=None, *, times=None, seeds=8, jobs=2, eta_v=None, sigma=0.0,
            train_v=True, sigma_F=None, init="large", v_star="gaussian", ode=True, also=(),
            method=DEFAULT_METHOD, dt=0.01, rtol=None, atol=None, nodes=None, seed=0, n_test=0,
            weights=None, weight_decay=0.0, activation="erf", blowup=BLOWUP, progress=None,
            sampler="weights", state=None, finite_d=True, mirror_eta=0.0, mirror_noise=1.0,
            mirror_batch=1, mirror_decay=0.0, mirror_fixed_norm=False, pre_mirror=0.0,
            ff_theta=None, ff_positive=None):
    """Simulate `seeds` seeds and integrate the ODE of `rule` from each seed's initial order
    parameters.

    The seeds are simulated with `simulate.run`; then, for each seed, the ODE of the same rule is
    integrated with `odes.integrate` from that seed's *measured* initial order parameters (the
    per-seed handoff of theory.md section 3.7) and evaluated at the simulation's record times.
    The method and the `also` rules are checked before anything is simulated.

    Parameters
    ----------
    rule, K, M, D, eta
        As in `simulate.run`.
    t_max : float, optional
        As in `simulate.run` (or `times`).
    times : array_like, optional
        As in `simulate.run`.
    seeds, seed, jobs, eta_v, sigma, train_v, sigma_F, init, v_star, n_test, weight_decay
        As in `simulate.run` (seeds from `seed` on).
    weights : Weights or sequence of Weights, optional
        Explicit weights, one `odes.Weights` per seed (or one for all), as in `simulate.run`.
    activation : {'erf', 'linear', 'relu'}, default 'erf'
        As in `simulate.run`; also checked against the ODE of `rule` and of each `also` rule.
    sampler : {'weights', 'overlaps'}, default 'weights'
        As in `simulate.run`.
    blowup : float, optional
        The divergence threshold of both halves (`odes.divergence`; default its BLOWUP).
    progress : bool, optional
        Progress bars (as in `simulate.run`; the ODE's after 2 s).
    ode : bool, default True
        ode=False skips the theory.
    also : str or iterable of str, default ()
        Further ODE rules integrated from the same starts (e.g. ('afa', 'pepita-lin') for a
        pepita run); see `check_also`.
    method : str, default 'dopri5'
        The ODE's method (`odes.integrate`).
    dt : float, default 0.01
        The spacing of the default times, and also the step of a fixed-step ODE method.
    rtol, atol : float, optional
        The ODE's tolerances, for the methods that take them (default `odes.solvers.DEFAULTS`).
    nodes : int, optional
        The quadrature nodes of the rules evaluated by quadrature (`odes.integrate`).
    mirror_eta, mirror_noise, mirror_batch, mirror_decay, mirror_fixed_norm, pre_mirror
        Weight mirroring, as in `simulate.run`; the ODE mirrors too.  With pre-mirroring the
        per-seed handoff is at the start of learning (t = 0, after it), so the ODE does not
        pre-mirror; compare a run with eta = eta_v = 0 for the mirroring alone.
    ff_theta, ff_positive
        Forward-Forward's options, as in `simulate.run`; the ODE takes them.
    finite_d : bool, default True
        Also the finite-D theory of eps_g along the ODE from each seed's start
        (`odes.fluctuations`: one seed's predicted std and the O(1/D) bias of the seed mean;
        `Comparison.lna`, the plot's band, the table's z(lna)).  It costs ~1 s per distinct start
        for the closed-form rules and ~10 s for exact PEPITA (K = M = 2), and is skipped, with a
        note (`Comparison.lna_note`), beyond `LNA_STARTS` distinct starts (a given ``state=`` is
        one start) or where the theory refuses or fails; the run itself is not failed.

    Returns
    -------
    Comparison
        The `Simulation` and, per seed, the ODE arrays (and those of each `also` rule).

    Raises
    ------
    ValueError
        For what `simulate.run` refuses; an unknown ODE method or an option out of range; an
        activation an ODE cannot take; `also` rules that `check_also` refuses, or given with
        ode=False.

    Warns
    -----
    DivergenceWarning
        If some seeds of the simulation diverged.

    Examples
    --------
    >>> import simulate
    >>> cmp = simulate.compare("afa", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
    >>> cmp.mean("eps_g", "sim").shape == cmp.mean("eps_g", "ode").shape == cmp.t.shape
    True
    >>> cmp = simulate.compare("pepita", K=2, M=2, D=500, eta=0.1, t_max=10, seeds=4,
    ...                        also=("afa", "pepita-lin"))           # three theory lines
    >>> cmp.theories
    ['ode', 'afa', 'pepita-lin']
    """
    rule = get_rule(rule)
    solver, _, full = resolve(method, dt, rtol, atol, times_given=False)     # before simulating
    if ode:
        also = check_also(rule, also)
        for name in (rule.name,) + also:
            check_activation(name, activation)
    elif also:
        raise ValueError("also: extra theory lines need ode=True")
    sim = run(rule, K, M, D, eta, times=times, t_max=t_max, seeds=seeds, seed=seed, jobs=jobs,
              eta_v=eta_v, sigma=sigma, train_v=train_v, sigma_F=sigma_F, init=init,
              v_star=v_star, n_test=n_test, dt=dt, weights=weights, weight_decay=weight_decay,
              activation=activation, blowup=blowup, progress=progress, sampler=sampler,
              state=state, mirror_eta=mirror_eta, mirror_noise=mirror_noise,
              mirror_batch=mirror_batch, mirror_decay=mirror_decay,
              mirror_fixed_norm=mirror_fixed_norm, pre_mirror=pre_mirror, ff_theta=ff_theta,
              ff_positive=ff_positive)
    ode_params = dict(method=method, **full)
    if not ode:
        return Comparison(sim, None, None, "", ode_params)
    if rule.exact_pepita or any(get_rule(r).exact_pepita for r in also):
        ode_params["nodes"] = nodes
    kw = dict(method=method, dt=dt if solver.fixed_step else None, rtol=rtol, atol=atol, nodes=nodes,
              jobs=jobs, progress=progress)
    arrays, status, messages, t_div = integrate_seeds(sim, rule.name, **kw)
    extra, extra_status, extra_messages, extra_t_div = {}, {}, {}, {}
    for other in also:
        (extra[other], extra_status[other], extra_messages[other],
         extra_t_div[other]) = integrate_seeds(sim, other, **kw)
    lna = {}
    if finite_d:
        lna, ode_params["lna_note"] = _finite_d(sim, rule, method, kw["dt"], rtol, atol, nodes)
    return Comparison(sim, arrays, rule.name, "", ode_params, status, messages, extra,
                      extra_status, extra_messages, t_div, extra_t_div, lna)


#: the most distinct seed starts `compare` computes the finite-D theory from (one integration
#: each: ~1 s for the closed-form rules, ~10 s for exact PEPITA by quadrature, at K = M = 2)
LNA_STARTS = {False: 8, True: 2}
#: the grid of J and B of that theory, per spacing (`odes.fluctuations`; coarser than its
#: default of 200: the predicted std and bias of eps_g move by 0.5 % of their largest value at
#: most, measured for bp with label noise and exact PEPITA to t = 30)
LNA_GRID = 25
#: log-spaced times at which it is evaluated (then interpolated in log t to the record times)
LNA_TIMES = 40


def _finite_d(sim, rule, method, dt, rtol, atol, nodes):
    """({'eps_g_std', 'eps_g_rel_std', 'eps_g_bias'} at the record times, note) from
    `odes.fluctuations` at each seed's start (starts that agree to 1e-12 computed once): the rms
    over the seeds of each one's predicted std (and of its std relative to its ODE's eps_g), and
    the mean of their biases.  Seeds from random weights start apart (v and v* are O(1) random),
    so each needs its own; with more distinct starts than LNA_STARTS it is skipped ({} and a note
    that says so, as when the theory refuses or fails)."""
    p = sim.params
    starts, which = [], []
    for s in range(sim.n_seeds):
        state = sim.state(s, 0)
        same = [i for i, st in enumerate(starts) if _same_state(st, state)]
        if not same:
            starts.append(state)
        which.append(same[0] if same else len(starts) - 1)
    limit = LNA_STARTS[bool(rule.exact_pepita)]
    if len(starts) > limit:
        return {}, (f"no finite-D prediction: {len(starts)} distinct seed starts, more than the "
                    f"{limit} it is computed for (give state= for one start shared by the seeds)")
    std, bias, note = [], [], ""
    # the theory at LNA_TIMES log-spaced times (and 0), interpolated in log t to the record times
    t = np.asarray(sim.t, float)
    positive = t[t > 0]
    coarse = (np.unique(np.concatenate([[0.0], np.geomspace(positive[0], positive[-1], LNA_TIMES)]))
              if positive.size else np.array([0.0]))
    coarse[-1] = t[-1]

    def at_records(x):
        if not positive.size:
            return np.zeros_like(t)
        lt = np.log(np.maximum(t, positive[0]))
        return np.where(t > 0, np.interp(lt, np.log(coarse[1:]), x[1:]), x[0])
    for state in starts:
        try:
            fl = odes.fluctuations(state, rule, p["eta"], int(p["D"]), times=coarse,
                                   eta_v=p["eta_v"], sigma=p["sigma"], train_v=p["train_v"],
                                   weight_decay=p.get("weight_decay", 0.0),
                                   activation=p.get("activation", "erf"), method=method, dt=dt,
                                   rtol=rtol, atol=atol, nodes=nodes if rule.exact_pepita else None,
                                   grid=LNA_GRID, progress=False, **rule_options(p, rule))
        except (ValueError, RuntimeError, odes.IntegrationError) as err:
            return {}, f"no finite-D prediction: {err}"
        std.append((at_records(fl.std("eps_g")), at_records(fl.ode.eps_g)))
        try:
            bias.append(at_records(fl.bias("eps_g")))
        except ValueError as err:
            bias.append(np.full(len(sim.t), np.nan))
            note = f"no finite-D bias: {err}"
    per_seed = np.array([std[i][0] for i in which])
    ode = np.array([std[i][1] for i in which])
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.sqrt(np.mean((per_seed / ode) ** 2, axis=0))
    return {"eps_g_std": np.sqrt(np.mean(per_seed ** 2, axis=0)), "eps_g_rel_std": rel,
            "eps_g_bias": np.mean([bias[i] for i in which], axis=0)}, note
