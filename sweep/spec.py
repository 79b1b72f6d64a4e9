"""The sweep specification: run parameters, grid axes, tasks, and every check before a run.

A spec is a TOML file or the keyword arguments of `sweep.run`, with the same keys:

    kind = "sim"          # "ode" | "sim" | "compare"
    rule = "pepita"
    K = 2 ... t_max = 300 ... seeds = 4
    [grid]                # each key a list: the sweep is their Cartesian product, in this order
    eta = [0.05, 0.1]
    phi_F = [0.01, 0.1]
    [cluster]             # only for --cluster slurm|pbs|sge: keyword arguments of dask-jobqueue

Run parameters are those of `odes.integrate` / `simulate.run` / `simulate.compare` (RUN_KEYS);
`state` is a JSON initial condition (`odes.State.from_json`; realised exactly per seed in dimension
D for simulations), `seed` the sweep seed, `block` the number of seeds per task.  Seed index i of
every point uses the seed number seed + i, exactly as ``python -m simulate --seed`` and ``python -m
odes --seed`` do, so any point of a sweep can be rerun alone, and every point sees the same draws
(common random numbers: differences between points are not blurred by different teachers).
"""
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class SpecError(ValueError):
    """A spec that cannot run; the message is one line naming the key.

    Raised by `load_spec` and `Spec` before anything runs (with the grid point where only some
    points fail), and by `sweep.run` for its backend options and the store.
    """


KINDS = ("ode", "sim", "compare")
# run parameters and their defaults (None: the packages' own default)
RUN_KEYS = dict(rule=None, K=2, M=2, D=500, eta=None, eta_v=None, sigma=0.0, phi_F=None,
                sigma_F=None, train_v=True, weight_decay=0.0, activation="erf", init="large",
                v_star="gaussian",
                method="dopri5", rtol=1e-8, atol=1e-14, dt=0.01, nodes=None, n_test=0, also=[],
                sampler="weights", mirror_eta=0.0, mirror_noise=1.0, mirror_batch=1,
                mirror_decay=0.0, mirror_fixed_norm=False, pre_mirror=0.0, ff_theta=None,
                ff_positive=None)
# sweep parameters: not grid axes
SWEEP_KEYS = dict(kind=None, t_max=None, times=None, seeds=4, seed=0, block=None, state=None)
NOT_ON_GRID = set(SWEEP_KEYS) | {"also", "dt"}
TABLES = ("grid", "cluster")


@dataclass(frozen=True)
class Task:
    """One unit of work: a grid point (its index and full parameters) and a block of seed indices."""
    index: tuple
    params: dict
    seed_indices: tuple

    @property
    def name(self):
        """Stable file name stem: the point's grid index and its seed block."""
        point = "_".join(map(str, self.index)) or "0"
        return f"p{point}_s{self.seed_indices[0]}-{self.seed_indices[-1]}"


class Spec:
    """A validated sweep spec.

    Made by `load_spec` (or by `sweep.run` from its arguments).  Every grid point is put through
    the checks its run would do (`check_points`) on construction.

    Parameters
    ----------
    d : dict
        The spec's keys (`sweep.spec`), with the tables ``grid`` ({axis: list of values}) and
        ``cluster``; ``state`` a JSON file name or a dict.

    Attributes
    ----------
    kind : str
        'ode', 'sim' or 'compare'.
    fixed : dict
        The scalar parameters: every run key that is not a grid axis, defaults filled in.
    grid : dict
        The grid, ordered {axis: values}.
    cluster : dict
        The [cluster] table (keyword arguments of dask-jobqueue).
    times : ndarray
        The common t axis, starting at 0.
    seeds_n : int
        The number of seeds per point.
    seed : int
        The sweep seed: seed index i uses the seed number seed + i.
    seed_numbers : list of int
        The seed numbers.
    block : int
        Seeds per task.
    state : State or None
        The initial condition given by ``state`` (an `odes.State`), or None.
    axes : list of str
        The grid axes, in order.
    shape : tuple of int
        The number of values per axis.
    n_points : int
        The number of grid points.

    Raises
    ------
    SpecError
        For an unknown key, a bad grid, a missing rule, eta or t_max (or times), both phi_F and
        sigma_F, a state with K, M, phi_F or sigma_F (or, for an ODE sweep, more than one seed),
        or a point whose run would refuse its parameters.

    Examples
    --------
    >>> import sweep
    >>> spec = sweep.load_spec(kind="ode", rule="bp", eta=0.5, t_max=100, grid={"K": [2, 3]})
    >>> spec.axes, spec.shape, spec.seed_numbers
    (['K'], (2,), [0, 1, 2, 3])
    """

    def __init__(self, d):
        d = dict(d)
        grid = d.pop("grid", None) or {}
        self.cluster = dict(d.pop("cluster", None) or {})
        if not isinstance(grid, dict):
            raise SpecError("grid: expected a table of lists")
        known = set(RUN_KEYS) | set(SWEEP_KEYS)
        for key in list(d) + list(grid):
            if key not in known:
                raise SpecError(f"unknown key {key!r}; known keys: {', '.join(sorted(known))}, "
                                f"and the tables [grid], [cluster]")
        for key, values in grid.items():
            if key in NOT_ON_GRID:
                raise SpecError(f"grid.{key}: {key} cannot be a grid axis (the sweep shares it)")
            if key in d:
                raise SpecError(f"{key}: given both as a value and under [grid]")
            if not isinstance(values, (list, tuple)):
                raise SpecError(f"grid.{key}: expected a list of values, got {values!r}")
            if len(values) == 0:
                raise SpecError(f"grid.{key}: empty list")
            if len(set(map(repr, values))) != len(values):
                raise SpecError(f"grid.{key}: repeated values {list(values)}")
        self.grid = {k: list(v) for k, v in grid.items()}
        self.kind = d.get("kind")
        if self.kind not in KINDS:
            raise SpecError(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        for key in ("rule", "eta"):
            if key not in d and key not in grid:
                raise SpecError(f"{key}: missing (give it as a value or under [grid])")
        if ("phi_F" in d or "phi_F" in grid) and ("sigma_F" in d or "sigma_F" in grid):
            raise SpecError("phi_F, sigma_F: give one scale of F, not both")
        self.fixed = {k: d.get(k, v) for k, v in RUN_KEYS.items() if k not in grid}
        self.seeds_n = _int(d.get("seeds", SWEEP_KEYS["seeds"]), "seeds", 1)
        self.seed = _int(d.get("seed", 0), "seed", 0)
        self.block = _int(d.get("block") or self.seeds_n, "block", 1)
        self.state = _read_state(d.get("state"))
        self.state_file = None if d.get("state") is None else str(d["state"])
        if self.state is not None:
            for key in ("K", "M", "phi_F", "sigma_F"):
                if key in grid or key in d:
                    raise SpecError(f"{key}: the given state fixes it; remove it or 'state'")
            self.fixed.update(K=self.state.K, M=self.state.M)
            if self.kind == "ode" and self.seeds_n != 1:
                raise SpecError("seeds: an ODE sweep from a given state has one seed")
        self.times = _times(d.get("times"), d.get("t_max"), self.fixed["dt"])
        self._raw = {k: v for k, v in d.items()}
        self._raw["grid"] = self.grid
        self.check_points()

    # ---- shape ---------------------------------------------------------------------------------
    @property
    def axes(self):
        return list(self.grid)

    @property
    def shape(self):
        return tuple(len(v) for v in self.grid.values())

    @property
    def n_points(self):
        return math.prod(self.shape)

    @property
    def seed_numbers(self):
        return [self.seed + i for i in range(self.seeds_n)]

    def points(self):
        """(index tuple, full parameters) of every grid point, in C order of the grid axes.

        Yields
        ------
        index : tuple of int
            The point's index along each grid axis.
        params : dict
            Its full parameters: `fixed` with the point's grid values.
        """
        axes = self.axes
        for index in itertools.product(*(range(n) for n in self.shape)):
            params = dict(self.fixed)
            params.update({a: self.grid[a][i] for a, i in zip(axes, index)})
            yield index, params

    def tasks(self):
        """The tasks of the sweep: every grid point times every block of `block` seeds.

        Returns
        -------
        list of Task
        """
        blocks = [tuple(range(i, min(i + self.block, self.seeds_n)))
                  for i in range(0, self.seeds_n, self.block)]
        return [Task(index, params, b) for index, params in self.points() for b in blocks]

    def max_sizes(self):
        """(max K, max M) over the grid: the sizes of the k and m dimensions.

        Returns
        -------
        tuple of int
        """
        pts = [p for _, p in self.points()]
        return max(int(p["K"]) for p in pts), max(int(p["M"]) for p in pts)

    # ---- identity ------------------------------------------------------------------------------
    def to_dict(self):
        """The spec as given (grid included, cluster excluded: it says where, not what).

        Returns
        -------
        dict
            JSON-ready (what the store records as its spec).
        """
        return json.loads(json.dumps(self._raw, default=str))

    def fingerprint(self):
        """A hash of everything that decides the numbers; a store is resumable only by the same.

        Returns
        -------
        str
            16 hexadecimal digits (of a SHA-256 of `to_dict` and the initial state).
        """
        text = json.dumps(self.to_dict(), sort_keys=True)
        if self.state is not None:
            text += json.dumps(self.state.to_dict(), sort_keys=True, default=_listify)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ---- checks --------------------------------------------------------------------------------
    def check_points(self):
        """Every point through the checks that its run would do, before anything starts.

        Raises
        ------
        SpecError
            Naming the key, and the grid point unless the key is not a grid axis and the first
            point fails already (then it is the shared value that is wrong).
        """
        for i, (index, p) in enumerate(self.points()):
            where = ", ".join(f"{a}={p[a]!r}" for a in self.axes)
            try:
                check_point(self.kind, p, self.times, self.state)
            except SpecError as err:
                # name the point unless the key is not a grid axis and the first point fails
                # already (then it is the shared value that is wrong)
                key = str(err).split(":", 1)[0]
                if where and (key in self.axes or i > 0):
                    raise SpecError(f"{err} (grid point {where})") from None
                raise


def _listify(x):
    return np.asarray(x).tolist()


def _int(x, key, lowest):
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < lowest:
        raise SpecError(f"{key}: expected an integer >= {lowest}, got {x!r}")
    return int(x)


def _read_state(path):
    if path is None:
        return None
    from odes.state import State, StateError
    try:
        return State.from_json(path) if isinstance(path, (str, Path)) else State.from_dict(path)
    except StateError as err:
        raise SpecError(f"state: {err}") from None


def _times(times, t_max, dt):
    """The common time axis: `times` (0 prepended if absent) or `odes.default_times(t_max, dt)`."""
    from odes.integrate import default_times
    if times is None and t_max is None:
        raise SpecError("t_max: missing (give t_max or times)")
    if times is not None:
        try:
            t = np.asarray(times, dtype=float).ravel()
        except (TypeError, ValueError):
            raise SpecError(f"times: expected a list of numbers, got {times!r}") from None
        if t.size == 0 or not np.all(np.isfinite(t)) or t[0] < 0 or np.any(np.diff(t) <= 0):
            raise SpecError("times: must be finite, >= 0 and strictly increasing")
        if t_max is not None and t_max != t[-1]:
            raise SpecError(f"t_max: {t_max} disagrees with the last of times ({t[-1]}); give one")
        return t if t[0] == 0 else np.concatenate([[0.0], t])
    try:
        return default_times(float(t_max), float(dt))
    except (TypeError, ValueError) as err:
        raise SpecError(f"t_max: {err}") from None


def check_point(kind, p, times, state):
    """Raise SpecError (naming the key) if one point's run would refuse its parameters."""
    from odes.integrate import check_solver
    from .task import solver_options
    from odes.rules import get_rule
    from simulate import check_also, check_params
    from simulate.run import check_sampler

    try:
        rule = get_rule(p["rule"])
    except (ValueError, TypeError) as err:
        raise SpecError(f"rule: {err}") from None
    for key in ("K", "M", "D", "n_test"):
        _int(p[key], key, 0 if key == "n_test" else 1)
    if p["nodes"] is not None:
        _int(p["nodes"], "nodes", 1)
    for key in ("train_v",):
        if not isinstance(p[key], bool):
            raise SpecError(f"{key}: expected true or false, got {p[key]!r}")
    for key in ("eta", "eta_v", "sigma", "phi_F", "sigma_F", "weight_decay"):
        x = p[key]
        if x is None and key not in ("eta",):
            continue
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
            raise SpecError(f"{key}: expected a finite number >= 0, got {x!r}")
    from odes import mirroring
    from odes.rhs.mirroring import KEYWORDS
    from odes.rules import FF_KEYWORDS, ff_options
    if not isinstance(p["mirror_fixed_norm"], bool):
        raise SpecError(f"mirror_fixed_norm: expected true or false, got {p['mirror_fixed_norm']!r}")
    for keys, check in ((KEYWORDS, lambda: mirroring(rule, **{k: p[k] for k in KEYWORDS})),
                        (FF_KEYWORDS, lambda: ff_options(rule, p["ff_theta"], p["ff_positive"]))):
        try:
            check()
        except (ValueError, TypeError) as err:
            text = str(err)
            key = next((k for k in keys if text.startswith(k)), keys[0])
            raise SpecError(text if text.startswith(f"{key}") else f"{key}: {text}") from None
    from odes.rhs.parameters import check_activation
    sampler = p["sampler"] if kind != "ode" else "weights"     # an ODE's random state: weights
    checks = [("sampler", lambda: check_sampler(p["sampler"], p["n_test"], p["K"], p["M"], p["D"],
                                                rule)),
              ("activation", lambda: check_params(rule, p["K"], p["M"], p["D"], p["eta"],
                                                  activation=p["activation"], sampler=sampler)),
              ("init", lambda: check_params(rule, p["K"], p["M"], p["D"], p["eta"], init=p["init"],
                                            sampler=sampler)),
              ("v_star", lambda: check_params(rule, p["K"], p["M"], p["D"], p["eta"],
                                              v_star=p["v_star"], sampler=sampler)),
              ("K", lambda: check_params(rule, p["K"], p["M"], p["D"], p["eta"], sampler=sampler))]
    if kind != "sim":
        checks.append(("method", lambda: check_solver(p["method"], **solver_options(p))))
        for name in [rule.name] + list(p["also"] if isinstance(p["also"], (list, tuple)) else []):
            checks.append(("activation", lambda name=name: check_activation(name, p["activation"])))
    if kind == "compare":
        checks.append(("also", lambda: check_also(rule, p["also"])))
    elif p["also"]:
        raise SpecError("also: extra ODE lines are for kind = \"compare\"")
    for key, check in checks:
        try:
            check()
        except (ValueError, TypeError) as err:
            text = str(err)
            raise SpecError(text if text.startswith(f"{key}:") else f"{key}: {text}") from None
    if kind == "ode" and p["n_test"]:
        raise SpecError("n_test: the Monte-Carlo test error is for simulations (kind sim or compare)")
    if p["nodes"] is not None and not (rule.exact_pepita or "pepita" in p["also"]):
        raise SpecError("nodes: quadrature nodes are for the exact-PEPITA ODE (rule pepita)")
    if state is not None:
        try:
            state.check_rule(rule)
        except ValueError as err:
            raise SpecError(f"state: {err}") from None
    if kind != "ode":
        steps = np.round(times * p["D"])
        if np.any(np.diff(steps) <= 0):
            raise SpecError(f"times: two output times fall on the same step at D = {p['D']} "
                            f"(times closer than 1/D); space them further")


def load_spec(source=None, **overrides):
    """A `Spec` from a TOML file (path), a dict, or keyword arguments (overrides win).

    Parameters
    ----------
    source : str, path-like or dict, optional
        A TOML file (a relative ``state`` in it is read relative to the file) or a dict.
    **overrides
        Spec keys that add to or replace those of `source`.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        If the file cannot be read or is not valid TOML, or the spec cannot run (`Spec`).

    Examples
    --------
    >>> import sweep
    >>> spec = sweep.load_spec(kind="sim", rule="pepita", K=2, M=2, D=500, t_max=300, seeds=4,
    ...                        grid={"eta": [0.05, 0.1], "phi_F": [0.01, 0.1]})
    >>> spec.n_points, len(spec.tasks())
    (4, 4)
    >>> spec = sweep.load_spec("spec.toml", seeds=8)              # the file, with 8 seeds
    """
    d = {}
    if source is not None and not isinstance(source, dict):
        try:
            import tomllib
        except ImportError:                  # Python 3.10
            import tomli as tomllib
        try:
            with open(source, "rb") as fh:
                d = tomllib.load(fh)
        except OSError as err:
            raise SpecError(f"cannot read spec {source}: {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise SpecError(f"spec {source} is not valid TOML: {err}") from None
        state = d.get("state")
        if isinstance(state, str) and not Path(state).is_absolute():
            d["state"] = str(Path(source).parent / state)       # relative to the spec file
    elif source is not None:
        d = dict(source)
    d.update(overrides)
    return Spec(d)
