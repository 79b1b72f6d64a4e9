"""Right-hand sides of the order-parameter ODEs (theory.md sections 3.3-3.5), one engine for all rules.

With the first-layer feedback f (v for BP, b for FA, a for AFA / PEPITA-linearised), c = (v, -v*)
and the shorthands of theory.md 3.2,

    A_kj = E[g'(lambda_k) u_j e] = sum_i c_i I3(k,j,i)          (j over all K+M fields)
    G_kl = E[g'_k g'_l e^2]     = sum_ij c_i c_j I4(k,l,i,j) + sigma^2 J2(k,l)
    H_k  = E[g(lambda_k) e]     = sum_i c_i I2(k,i)
    E_k  = E[g'_k e^2]          = sum_ij c_i c_j I3g(k;i,j) + sigma^2 Eg1(k)

the ODEs are

    dR_kn/dt = -eta f_k A_{k,K+n}                               [+ eta a_k p_n E_k]
    dQ_kl/dt = -eta f_k A_kl - eta f_l A_lk + eta^2 f_k f_l G_kl [+ eta a_k a_l (E_k + E_l)]
    dv_k/dt  = -eta_v H_k                                         [+ eta_v a_k E_k]
    da_k/dt  = -eta a_k [a_k B_k + sum_j q_j c_j J2(k,j)]        [+ eta phi_F a_k E_k]

with q = (a, p) and B_k = E[g''(lambda_k) e] (-A_kk for erf, whose g'' = -x g'; 0 for linear;
E[delta(lambda_k) e] for ReLU); the bracketed terms are the Fe terms of PEPITA-linearised, da/dt is
present for adaptive feedback only, and dv/dt is zero for a frozen second layer.  The moments
A, G, H, E, B, J2 depend on the activation (theory.md 8.2): erf's come from `odes.gaussian.integrals` with
the parts that depend on fewer indices hoisted, linear's are covariances, ReLU's come from
`odes.gaussian.relu_integrals`; the assembly above is one code for all.

The state is packed into one flat vector y = (Q.ravel(), R.ravel(), v, f): `pack` and `unpack`
convert.  For FA the slot f holds the constant b (its derivative is zero), for BP it is unused.
`rhs_kernel` is compiled with numba, allocates nothing and writes into `dy`; compiled callers (the
steppers) call it, Python calls `evaluate(y, dy, args)`; `derivatives` is the convenient Python
entry point.
"""
import math
from collections import namedtuple

import numpy as np
from numba import njit
from numba.extending import overload

from ..activations import ERF, LINEAR, RELU
from ..gaussian import relu_integrals as _relu
from ..gaussian.expectations import default_nodes, hermite_rule
from ..gaussian.integrals import (_2_PI, _4_PI2, clip_unit, eg1, i2_arg, i3_norm, i3_numer, i3g_parts,
                        i4_lam0_coeffs, i4_lam0_from_coeffs, i4_lam1, i4_lam4, j2)
from .parameters import (ACTIVATION, DECAY, ETA, ETA_V, FE_TERMS, FEEDBACK, MIRROR_ETA, N_NODES,
                         PHI_F, QUADRATURE, SIGMA, TRAIN_V, params)
from ..gaussian.vecmath import asin_n, padded
from ..rules import FEEDBACK_ADAPTIVE, FEEDBACK_V, ff_options, get_rule
from . import quadrature as _quad
from .fields import fill_fields, offsets
from .mirroring import add_mirroring, load_feedback, mirroring

def layout(K, M, mirrored=False):
    """Slices of the flat state vector: Q, R, v, f (from `offsets`), with weight mirroring on
    (`odes.rhs.mirroring`) also p and phi_F after f, and its size."""
    oQ, oR, ov, of, size = offsets(K, M)
    out = {"Q": slice(oQ, oR), "R": slice(oR, ov), "v": slice(ov, of), "f": slice(of, size)}
    if mirrored:
        out.update(p=slice(size, size + M), phi_F=slice(size + M, size + M + 1))
        size += M + 1
    out["size"] = size
    return out


#: nodes of the label-noise dimension of the quadrature (plain Gauss-Hermite; xi enters only
#: through e, smoothly: relative RHS error 2e-11 at sigma = 0.3, 8e-6 at sigma = 1 for exact PEPITA
#: with O(1) a, and exact for the closed-form rules, whose integrands are quadratic in xi)
XI_NODES = 6


#: scratch of the closed-form kernel: covariance C, error coefficients c, feedback f, the moments
#: A (K x n), G (K x K), H, E, B, J2 (K x n), four n-vectors, and the arcsines' arguments,
#: coefficients and values (padded for whole vectors, `odes.gaussian.vecmath`).  One class per activation
#: family, so that the kernel is chosen when a caller is compiled (see `rhs_kernel`).
ErfScratch = namedtuple("ErfScratch", "C c f A G H E B J wi rsq1 ui wi4 xa ca sa")
LinearScratch = namedtuple("LinearScratch", ErfScratch._fields)
ReluScratch = namedtuple("ReluScratch", ErfScratch._fields)
_SCRATCH = {ERF: ErfScratch, LINEAR: LinearScratch, RELU: ReluScratch}
#: the scratch of a run with weight mirroring: the kernel's own scratch, wrapped, so that the
#: mirrored kernel is chosen when the caller compiles (`rhs_kernel`)
MirroredScratch = namedtuple("MirroredScratch", "inner")


def workspace(K, M, par, nodes=0, xi_nodes=XI_NODES):
    """The scratch `rhs_kernel` works in, allocated once per integration: for a quadrature rule its
    named arrays (`odes.rhs.quadrature.QuadratureScratch`), else the closed form's named arrays
    for the activation of `par`; with weight mirroring on, wrapped in a `MirroredScratch`."""
    if par[QUADRATURE] != 0.0:
        ws = _quad.workspace(K, M, nodes, xi_nodes)
    else:
        n = K + M
        na = padded(n_arcsines(K, M))
        z = np.zeros
        ws = _SCRATCH[int(par[ACTIVATION])](z((n, n)), z(n), z(K), z((K, n)), z((K, K)), z(K),
                                            z(K), z(K), z((K, n)), z(n), z(n), z(n), z(n), z(na),
                                            z(na), z(na))
    return MirroredScratch(ws) if par[MIRROR_ETA] != 0.0 else ws


def quadrature_nodes(K, M, nodes=None, xi_nodes=None):
    """The one-dimensional rules whose folded product over the K+M fields (plus xi when sigma > 0)
    the quadrature kernel runs, stacked as rows (node, weight): `nodes` rows of the contracted
    Gauss-Hermite rule for the fields (default `odes.gaussian.expectations.default_nodes(K+M)`; the kernel
    contracts it per dimension), then `xi_nodes` (default `XI_NODES`) for xi, which enters e
    linearly."""
    m = default_nodes(K + M) if nodes is None else int(nodes)
    m_xi = XI_NODES if xi_nodes is None else int(xi_nodes)
    return np.vstack([np.column_stack(hermite_rule(m)), np.column_stack(hermite_rule(m_xi))])


def pack(state, rule, mirrored=False):
    """Flat vector y of a state for a rule (with p and phi_F for weight mirroring)."""
    rule = state.check_rule(rule)
    K, M = state.K, state.M
    lay = layout(K, M, mirrored)
    y = np.zeros(lay["size"])
    y[lay["Q"]] = state.Q.ravel()
    y[lay["R"]] = state.R.ravel()
    y[lay["v"]] = state.v
    if rule.feedback != FEEDBACK_V:
        y[lay["f"]] = state.feedback(rule)
    if mirrored:
        y[lay["p"]], y[lay["phi_F"]] = state.p, state.phi_F
    return y


def unpack_mirrored(y, K, M):
    """(p, phi_F) of flat vectors y (last axis) with weight mirroring on, as views ((..., M) and
    (...)); (None, None) for flat vectors without mirroring's slots."""
    lay = layout(K, M, mirrored=True)
    y = np.asarray(y)
    if y.shape[-1] != lay["size"]:
        return None, None
    return y[..., lay["p"]], y[..., lay["phi_F"]][..., 0]


def unpack(y, K, M):
    """Arrays (Q, R, v, f) of flat vectors y (last axis), as views."""
    lay = layout(K, M)
    y = np.asarray(y)
    lead = y.shape[:-1]
    return (y[..., lay["Q"]].reshape(lead + (K, K)), y[..., lay["R"]].reshape(lead + (K, M)),
            y[..., lay["v"]], y[..., lay["f"]])


def constants(state):
    """Constant order parameters passed to the kernel: T, v*, p."""
    p = state.p if state.p is not None else np.zeros(state.M)
    return np.ascontiguousarray(state.T), np.ascontiguousarray(state.v_star), np.ascontiguousarray(p)


#: the arguments of every right-hand-side kernel besides y and dy, as one record: the sizes K and
#: M, the constant order parameters T, v* and p (`constants`), the parameter vector par
#: (`odes.rhs.parameters`), the workspace ws (`workspace`) and quad, the quadrature nodes of the
#: rules evaluated by quadrature (par[QUADRATURE] = 1: exact PEPITA, or any rule on request;
#: unused otherwise)
KernelArgs = namedtuple("KernelArgs", "K M T vstar p par ws quad")


def rhs_kernel(y, dy, args):
    """dy = d/dt y for the packed state y (see module docstring) under the `KernelArgs` args, in
    compiled code; from Python call `evaluate`.

    The kernel is chosen by the type of args.ws when the caller is compiled (erf, linear or ReLU closed
    form, or the quadrature), not by a branch at every call: a compiled function that calls
    another keeps the reference counts of every array it holds (atomic increments, 0.5 us of the
    K = M = 2 closed form when this was a dispatching function), while a function that calls
    nothing gets them removed.  So each kernel calls only inlined code."""
    raise TypeError("rhs_kernel runs in compiled code; from Python call odes.rhs.evaluate")


@overload(rhs_kernel, jit_options={"error_model": "numpy"})
def _choose_kernel(y, dy, args):
    ws = args.types[KernelArgs._fields.index("ws")]
    return {_quad.QuadratureScratch: _quadrature_kernel, ErfScratch: _erf_kernel,
            LinearScratch: _linear_kernel, ReluScratch: _relu_kernel,
            MirroredScratch: _mirrored_kernel}.get(getattr(ws, "instance_class", None))


@njit(cache=True, error_model="numpy")
def evaluate(y, dy, args):
    """`rhs_kernel` called from Python: evaluate(y, dy, args) with (y, args) from `kernel_args`."""
    rhs_kernel(y, dy, args)


def _mirrored_kernel(y, dy, args):
    """With weight mirroring (`odes.rhs.mirroring`; args.ws a `MirroredScratch`): p and phi_F from
    y into the arguments, the kernel of the wrapped scratch, then the mirroring drift.  A kernel of
    its own, so that the others stay as small as before (a kernel that LLVM no longer inlines into
    its caller pays the reference counts of every array, 0.35 us of the K = M = 2 closed form)."""
    K, M, T, vstar, p, par, ws, quad = args
    load_feedback(y, K, M, p, par)
    rhs_kernel(y, dy, KernelArgs(K, M, T, vstar, p, par, ws.inner, quad))
    add_mirroring(y, dy, K, M, par)


def _quadrature_kernel(y, dy, args):
    K, M, T, vstar, p, par, ws, quad = args
    _quad.quadrature_rhs(y, dy, K, M, T, vstar, p, par, ws, quad)
    add_weight_decay(y, dy, K, M, par)


def _erf_kernel(y, dy, args):
    K, M, T, vstar, p, par, ws, _ = args
    fb = int(par[FEEDBACK])
    fill_fields(y, K, M, T, vstar, fb, ws.C, ws.c, ws.f)
    _erf_moments(ws.C, ws.c, K, K + M, par[SIGMA], par[FE_TERMS] != 0.0, fb == FEEDBACK_ADAPTIVE,
                 ws.A, ws.G, ws.H, ws.E, ws.B, ws.J, ws.wi, ws.rsq1, ws.ui, ws.wi4, ws.xa, ws.ca,
                 ws.sa)
    _assemble(y, dy, K, M, p, par, ws.c, ws.f, ws.A, ws.G, ws.H, ws.E, ws.B, ws.J)
    add_weight_decay(y, dy, K, M, par)


def _linear_kernel(y, dy, args):
    K, M, T, vstar, p, par, ws, _ = args
    _other_kernel(LINEAR, y, dy, K, M, T, vstar, p, par, ws)


def _relu_kernel(y, dy, args):
    K, M, T, vstar, p, par, ws, _ = args
    _other_kernel(RELU, y, dy, K, M, T, vstar, p, par, ws)


@njit(cache=True, error_model="numpy", inline="always")
def _other_kernel(act, y, dy, K, M, T, vstar, p, par, ws):
    """The closed form for g = linear or ReLU."""
    fill_fields(y, K, M, T, vstar, int(par[FEEDBACK]), ws.C, ws.c, ws.f)
    _other_moments(act, ws.C, ws.c, K, K + M, par[SIGMA], par[FE_TERMS] != 0.0,
                   ws.A, ws.G, ws.H, ws.E, ws.B, ws.J)
    _assemble(y, dy, K, M, p, par, ws.c, ws.f, ws.A, ws.G, ws.H, ws.E, ws.B, ws.J)
    add_weight_decay(y, dy, K, M, par)


@njit(cache=True, error_model="numpy", inline="always")
def add_weight_decay(y, dy, K, M, par):
    """The weight-decay terms of theory.md 8.1, w <- w - (kappa/D) w and v <- v - (kappa/D) v per
    step: dR -= kappa R, dQ -= 2 kappa Q, dv -= kappa v (a trained second layer), da -= kappa a
    (adaptive feedback; b and the teacher are fixed)."""
    kappa = par[DECAY]
    if kappa == 0.0:
        return
    _, oR, ov, of, _ = offsets(K, M)
    for i in range(oR):
        dy[i] -= 2.0 * kappa * y[i]
    for i in range(oR, ov):
        dy[i] -= kappa * y[i]
    if par[TRAIN_V] != 0.0:
        for i in range(ov, of):
            dy[i] -= kappa * y[i]
    if int(par[FEEDBACK]) == FEEDBACK_ADAPTIVE:
        for i in range(of, of + K):
            dy[i] -= kappa * y[i]


@njit(cache=True)
def n_arcsines(K, M):
    """Room for the arcsines of a closed-form erf right-hand side: I2(k, i), I4(k, l, i, j) for
    k <= l and i <= j, and I3g(k; i, j) for i <= j (used by the rules with Fe terms only)."""
    n = K + M
    pairs = n * (n + 1) // 2
    return K * n + K * (K + 1) // 2 * pairs + K * pairs


@njit(cache=True, error_model="numpy", inline="always")
def _erf_moments(C, c, K, n, sigma, fe, adaptive, A, G, H, E, B, J, wi, rsq1, ui, wi4, xa, ca, sa):
    """A, G, H, E, B, J2 of the module docstring for g = erf, with the parts of I3 and I4 that
    depend on fewer indices hoisted out of the inner loops; J2(k, j) for every field only where
    the AF vector's equation needs it (adaptive feedback), else for the students' pairs.

    H, G and E are sums of coefficient x arcsine.  The arguments (xa) and coefficients (ca) are
    laid out first, in the order H_k, G_kl (l >= k), E_k per student; one vectorised call takes
    every arcsine (sa, `odes.gaussian.vecmath.asin_n`); the sums then walk the same order."""
    t = 0
    for k in range(K):
        for i in range(n):
            xa[t] = clip_unit(i2_arg(C, k, i))
            ca[t] = _2_PI * c[i]
            t += 1
        for i in range(n if adaptive else 0):
            J[k, i] = j2(C, k, i)
        # A_kj = sum_i c_i I3(k,j,i), with the (k,i) normalisation hoisted: w_i = c_i i3_norm(k,i)
        for i in range(n):
            wi[i] = c[i] * i3_norm(C, k, i)
        for j in range(n):
            s = 0.0
            for i in range(n):
                s += wi[i] * i3_numer(C, k, j, i)
            A[k, j] = s
        B[k] = -A[k, k]                  # g'' = -x g'
        # G_kl = sum_ij c_i c_j I4(k,l,i,j), with Lambda4 and Lambda1 hoisted out of the (i,j) loop
        for l in range(k, K):
            # Lambda0(i, j) = Lambda4 C_ij + u_i C_lj + w_i C_kj (`i4_lam0_coeffs`)
            lam4 = i4_lam4(C, k, l)
            rsq4 = 1.0 / math.sqrt(lam4)
            for i in range(n):
                ui[i], wi4[i] = i4_lam0_coeffs(C, k, l, i)
                rsq1[i] = 1.0 / math.sqrt(i4_lam1(C, k, l, i, lam4))
            for i in range(n):
                cc = _4_PI2 * rsq4 * c[i]
                for j in range(i, n):
                    ca[t] = (1.0 if i == j else 2.0) * cc * c[j]
                    lam0 = i4_lam0_from_coeffs(C, k, l, i, j, lam4, ui[i], wi4[i])
                    xa[t] = clip_unit(lam0 * rsq1[i] * rsq1[j]) if ca[t] != 0.0 else 0.0
                    t += 1
        for i in range(n if fe else 0):
            for j in range(i, n):
                fac, arg = i3g_parts(C, k, i, j)
                ca[t] = (1.0 if i == j else 2.0) * c[i] * c[j] * fac
                xa[t] = clip_unit(arg) if ca[t] != 0.0 else 0.0
                t += 1
    asin_n(xa, sa, t)
    pairs = n * (n + 1) // 2
    t = 0
    for k in range(K):
        H[k] = _dot(ca, sa, t, n)
        t += n
        for l in range(k, K):
            G[k, l] = _dot(ca, sa, t, pairs) + (
                sigma * sigma * (J[k, l] if adaptive else j2(C, k, l)) if sigma != 0.0 else 0.0)
            t += pairs
        E[k] = 0.0
        if fe:
            E[k] = _dot(ca, sa, t, pairs) + sigma * sigma * eg1(C, k)
            t += pairs


@njit(cache=True, error_model="numpy", inline="always")
def _dot(a, b, start, length):
    """sum of a[i] b[i] over i in [start, start + length)."""
    s = 0.0
    for i in range(start, start + length):
        s += a[i] * b[i]
    return s


@njit(cache=True, error_model="numpy", inline="always")
def _other_moments(act, C, c, K, n, sigma, fe, A, G, H, E, B, J):
    """A, G, H, E, B, J2 for g = linear (I2 = C_ab, J2 = 1, I3(a,b,c) = C_bc, I4(a,b,c,d) =
    I3g(a;c,d) = C_cd, g'' = 0) or ReLU (`odes.gaussian.relu_integrals`)."""
    linear = act == LINEAR
    ee = 0.0                             # linear: E[e^2] - sigma^2 = c^T C c, shared by G and E
    if linear:
        for i in range(n):
            for j in range(n):
                ee += c[i] * c[j] * C[i, j]
    for k in range(K):
        H[k] = 0.0
        B[k] = 0.0
        for i in range(n):
            H[k] += c[i] * (C[k, i] if linear else _relu.i2(C, k, i))
            J[k, i] = 1.0 if linear else _relu.j2(C, k, i)
            if not linear:
                B[k] += c[i] * _relu.delta_relu(C, k, i)
        for j in range(n):
            s = 0.0
            for i in range(n):
                s += c[i] * (C[j, i] if linear else _relu.i3(C, k, j, i))
            A[k, j] = s
        for l in range(k, K):
            s = ee if linear else _relu_form(C, c, n, k, l)
            G[k, l] = s + sigma * sigma * J[k, l]
        E[k] = 0.0
        if fe:
            s = ee if linear else _relu_form(C, c, n, k, -1)
            E[k] = s + sigma * sigma * (1.0 if linear else 0.5)


@njit(cache=True, error_model="numpy")
def _relu_form(C, c, n, k, l):
    """sum_ij c_i c_j I4(k, l, i, j) for ReLU, or with l = -1 sum_ij c_i c_j I3g(k; i, j)."""
    s = 0.0
    for i in range(n):
        if c[i] == 0.0:
            continue
        for j in range(i, n):
            if c[j] != 0.0:
                x = _relu.i4(C, k, l, i, j) if l >= 0 else _relu.i3g(C, k, i, j)
                s += (1.0 if i == j else 2.0) * c[i] * c[j] * x
    return s


@njit(cache=True, error_model="numpy", inline="always")
def _assemble(y, dy, K, M, p, par, c, f, A, G, H, E, B, J):
    """dy from the moments (module docstring); with the Fe terms the feedback is a (adaptive)."""
    eta, eta_v = par[ETA], par[ETA_V]
    fb = int(par[FEEDBACK])
    fe = par[FE_TERMS] != 0.0
    oQ, oR, ov, of, _ = offsets(K, M)
    for k in range(K):
        fe_a = f[k] if fe else 0.0
        for m in range(M):
            dy[oR + k * M + m] = -eta * f[k] * A[k, K + m] + eta * fe_a * p[m] * E[k]
        for l in range(k, K):
            fe_b = f[l] if fe else 0.0
            d = (-eta * f[k] * A[k, l] - eta * f[l] * A[l, k] + eta * eta * f[k] * f[l] * G[k, l]
                 + eta * fe_a * fe_b * (E[k] + E[l]))
            dy[oQ + k * K + l] = d
            dy[oQ + l * K + k] = d
        if par[TRAIN_V] != 0.0:
            dy[ov + k] = -eta_v * H[k] + eta_v * fe_a * E[k]
        else:
            dy[ov + k] = 0.0
        if fb == FEEDBACK_ADAPTIVE:
            s = f[k] * B[k]
            for l in range(K):
                s += f[l] * c[l] * J[k, l]
            for m in range(M):
                s += p[m] * c[K + m] * J[k, K + m]
            dy[of + k] = -eta * f[k] * s + eta * par[PHI_F] * fe_a * E[k]
        else:
            dy[of + k] = 0.0


def kernel_args(state, rule, eta, eta_v=None, sigma=0.0, train_v=True, quadrature=False, nodes=None,
                weight_decay=0.0, activation="erf", mirror=None, ff=None):
    """(y, args) for `rhs_kernel(y, dy, args)` (from Python `evaluate(y, dy, args)`): the packed
    state of `state` under `rule` (a Rule) and the kernel's other arguments, a `KernelArgs`.  quadrature=True evaluates a closed-form
    rule by quadrature too (exact PEPITA always is); nodes: quadrature nodes per dimension
    (default: see `quadrature_nodes`); mirror: a `odes.rhs.mirroring.Mirroring` (None: F fixed),
    which with mirroring on adds p and phi_F to the packed state and gives the kernel its own copy
    of p (which it overwrites from y); ff: Forward-Forward's (theta, clean_positive) of
    `odes.rules.ff_options` (None: the rule's defaults)."""
    T, vstar, p = constants(state)
    mirrored = mirror is not None and mirror.on
    if mirrored:
        p = p.copy()
    if ff is None:
        ff = ff_options(rule)
    par = params(state, rule, eta, eta_v, sigma, train_v, quadrature, weight_decay, activation,
                 mirror, ff)
    if par[QUADRATURE] != 0.0:
        quad = quadrature_nodes(state.K, state.M, nodes)
        par[N_NODES] = default_nodes(state.K + state.M) if nodes is None else int(nodes)
    else:
        quad = np.zeros((0, 2))
    m = int(par[N_NODES])
    ws = workspace(state.K, state.M, par, m, len(quad) - m)
    return pack(state, rule, mirrored), KernelArgs(state.K, state.M, T, vstar, p, par, ws, quad)


def derivatives(state, rule, eta, eta_v=None, sigma=0.0, train_v=True, quadrature=False, nodes=None,
                weight_decay=0.0, activation="erf", *, mirror_eta=0.0, mirror_noise=1.0,
                mirror_batch=1, mirror_decay=0.0, mirror_fixed_norm=False, ff_theta=None,
                ff_positive=None):
    """Time derivatives of the order parameters of `state` under `rule`.

    The right-hand side that `odes.integrate` integrates, evaluated once from Python.

    Parameters
    ----------
    state : State
        Where to evaluate it.
    rule : str or Rule
        A rule of `odes.ODE_RULES`.
    eta : float
        First-layer learning rate.
    eta_v : float, optional
        Second-layer learning rate (default eta).
    sigma : float, default 0.0
        Label-noise standard deviation.
    train_v : bool, default True
        Train the second layer.
    quadrature : bool, default False
        Evaluate the expectations by quadrature instead of the closed forms (exact PEPITA always
        does).
    nodes : int, optional
        Quadrature nodes per dimension.
    weight_decay : float, default 0.0
        kappa of theory.md 8.1.
    activation : {'erf', 'linear', 'relu'}, default 'erf'
        g of teacher and student (theory.md 8.2).
    mirror_eta, mirror_noise, mirror_batch, mirror_decay, mirror_fixed_norm
        Weight mirroring (theory.md 11.2) for the rules with F: its rate eta_M (default 0, F
        fixed), the noise inputs' standard deviation s, their number B per step, F's decay
        kappa_M, and whether |F|^2 is held fixed (`odes.integrate`).
    ff_theta, ff_positive
        Forward-Forward's threshold and positive pass, for the rule 'ff' (`odes.integrate`).

    Returns
    -------
    dict of str to ndarray
        'Q' (K, K), 'R' (K, M), 'v' (K,) and, for adaptive feedback, 'a' (K,) (for FA, b is
        constant and 'b' is zeros); with mirroring also 'p' (M,) and 'phi_F' (a float).

    Raises
    ------
    ValueError
        For an unknown rule or activation (ReLU with quadrature included), a negative or
        non-finite eta, eta_v, sigma or weight_decay, or mirroring options that
        `odes.rhs.mirroring.mirroring` refuses (any for a rule without F).
    StateError
        If `state` lacks a field that the rule needs.

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
    >>> d = odes.derivatives(st, "afa", eta=0.5)
    >>> sorted(d), d["R"].shape
    (['Q', 'R', 'a', 'v'], (2, 2))
    """
    rule = get_rule(rule) if isinstance(rule, str) else rule
    state.check_rule(rule)
    mirror = mirroring(rule, mirror_eta=mirror_eta, mirror_noise=mirror_noise,
                       mirror_batch=mirror_batch, mirror_decay=mirror_decay,
                       mirror_fixed_norm=mirror_fixed_norm)
    y, args = kernel_args(state, rule, eta, eta_v, sigma, train_v, quadrature, nodes, weight_decay,
                          activation, mirror, ff_options(rule, ff_theta, ff_positive))
    dy = np.zeros_like(y)
    evaluate(y, dy, args)
    dQ, dR, dv, df = unpack(dy, state.K, state.M)
    out = {"Q": dQ.copy(), "R": dR.copy(), "v": dv.copy()}
    if rule.feedback_name:
        out[rule.feedback_name] = df.copy()
    dp, dphi = unpack_mirrored(dy, state.K, state.M)
    if dp is not None:
        out["p"], out["phi_F"] = dp.copy(), float(dphi)
    return out
