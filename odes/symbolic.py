"""Symbolic derivation of the order-parameter ODEs from the update rules (independent oracle).

`odes.rhs` hard-codes the final ODEs of theory.md sections 3.3-3.5.  This module derives them
again with sympy, starting from the learning rule itself (theory.md Appendix A), so that the two
can be compared term by term.

Derivation.  Every ODE rule moves the first layer as w_k <- w_k - (eta/sqrt(D)) phi_k (x - s F e)
with a scalar *force* phi_k = f_k g'(lambda_k) e (f = v, b or a) and s = 1 for PEPITA-linearised
(s = 0 otherwise).  Projecting the step on w_l, w*_n and F gives, to leading order in 1/D,

    D dR_kn = -eta phi_k (nu_n - s p_n e)
    D dQ_kl = -eta [phi_l (lambda_k - s a_k e) + phi_k (lambda_l - s a_l e)] + eta^2 phi_k phi_l
    D da_k  = -eta phi_k (zeta - s phi_F e),             zeta = F.x
    D dv_k  = -eta_v e (presynaptic activity of the last layer)

and d/dt is the expectation of these per-step changes over the Gaussian fields
u = (lambda_1..lambda_K, nu_1..nu_M) ~ N(0, C), the label noise xi ~ N(0, 1) and zeta.  The
expectation operator `expect` expands a polynomial in g(u_i), g'(u_i), u_i, zeta and xi into
monomials and maps each monomial onto one of the closed-form integrals of theory.md section 3.2
(I2, J2, I3, I4, I3g, Eg1).  The noise is independent of everything (E[xi] = 0, E[xi^2] = 1);
zeta is removed with Stein's lemma, E[zeta h(u)] = sum_j q_j E[d h / d u_j] with
q = Cov(zeta, u) = (a, p), where sympy differentiates h using g' and g'' = -u g'.  A monomial
that is none of the known integrals raises `UnsupportedMonomial`.

The resulting expressions contain the parameters v_k, vstar_m, b_k, a_k, p_m, phi_F, eta, eta_v,
sigma and integral symbols named after their field indices (0-based, students first), e.g.
``I3_0_0_2`` = I3(0,0,2) = E[g'(u_0) u_0 g(u_2)].  Q, R and T enter only through these
integrals (they are functions of C = [[Q, R], [R^T, T]]).

Public API: `ode_exprs` (sympy expressions), `latex` (for notebooks) and `derivatives` (numerical
values, same convention as `odes.rhs.derivatives`).
"""
import re
from functools import lru_cache

import numpy as np
import sympy as sp

from .gaussian import integrals
from .rules import FEEDBACK_ADAPTIVE, FEEDBACK_FIXED, FEEDBACK_V, get_rule


class UnsupportedMonomial(ValueError):
    """A monomial whose Gaussian expectation is not one of the known integrals."""


# ---- activation ----------------------------------------------------------------------------------

class g(sp.Function):
    """The activation g(u) = erf(u/sqrt(2)), kept unevaluated; g' = gp."""
    nargs = 1

    def fdiff(self, argindex=1):
        return gp(self.args[0])

    def _latex(self, printer):
        return r"g\left(%s\right)" % printer._print(self.args[0])


class gp(sp.Function):
    """g'(u) = sqrt(2/pi) exp(-u^2/2), kept unevaluated; its derivative is g''(u) = -u g'(u)."""
    nargs = 1

    def fdiff(self, argindex=1):
        u = self.args[0]
        return -u * gp(u)

    def _latex(self, printer):
        return r"g'\left(%s\right)" % printer._print(self.args[0])


# ---- symbols ---------------------------------------------------------------------------------------

eta, eta_v, sigma, phi_F = sp.symbols("eta eta_v sigma phi_F")
zeta, xi = sp.symbols("zeta xi")


def _vec(name, n):
    return tuple(sp.Symbol(f"{name}_{i}") for i in range(n))


class Symbols:
    """The symbols of a network with K students and M teachers.

    u: the fields (lambda_0..lambda_{K-1}, nu_0..nu_{M-1}); lam, nu: the two groups; v, vstar, b,
    a, p: order-parameter vectors; q = (a, p) = Cov(zeta, u).
    """

    def __init__(self, K, M):
        self.K, self.M = K, M
        self.u = _vec("u", K + M)
        self.lam, self.nu = self.u[:K], self.u[K:]
        self.v, self.vstar = _vec("v", K), _vec("vstar", M)
        self.b, self.a, self.p = _vec("b", K), _vec("a", K), _vec("p", M)
        self.q = self.a + self.p
        self.field_index = {s: i for i, s in enumerate(self.u)}
        self.random = frozenset(self.u) | {zeta, xi}

    def parameters(self):
        """All non-random parameter symbols, in a fixed order (the lambdify arguments)."""
        return self.v + self.vstar + self.b + self.a + self.p + (phi_F, eta, eta_v, sigma)


@lru_cache(maxsize=None)
def symbols(K, M):
    """The (cached) `Symbols` of a network with K students and M teachers."""
    return Symbols(K, M)


# ---- integral symbols ------------------------------------------------------------------------------

INTEGRAL_KINDS = ("I2", "J2", "I3", "I4", "I3g", "Eg1")


def integral(kind, *idx):
    """The symbol of a Gaussian integral, with its indices in canonical order (theory.md 3.2):
    I2, J2 symmetric; I4(a,b,c,d) symmetric in (a,b) and in (c,d); I3g(a;c,d) symmetric in (c,d)."""
    arity = {"I2": 2, "J2": 2, "I3": 3, "I4": 4, "I3g": 3, "Eg1": 1}
    if arity.get(kind) != len(idx):
        raise ValueError(f"unknown integral {kind}{idx}; kinds and arities: {arity}")
    idx = tuple(int(i) for i in idx)
    if kind in ("I2", "J2"):
        idx = tuple(sorted(idx))
    elif kind == "I4":
        idx = tuple(sorted(idx[:2])) + tuple(sorted(idx[2:]))
    elif kind == "I3g":
        idx = idx[:1] + tuple(sorted(idx[1:]))
    return sp.Symbol("_".join([kind] + [str(i) for i in idx]))


def parse_integral(sym):
    """(kind, indices) of an integral symbol, or None for any other symbol."""
    kind, *rest = sym.name.split("_")
    if kind not in INTEGRAL_KINDS or not rest or not all(r.isdigit() for r in rest):
        return None
    return kind, tuple(int(r) for r in rest)


# ---- the expectation operator ----------------------------------------------------------------------

def _gaussian_moment(n):
    """E[xi^n] for xi ~ N(0, 1): 0 for odd n, (n-1)!! for even n."""
    return 0 if n % 2 else sp.factorial2(n - 1)


def _split(term, sym):
    """Split a product into (coefficient, monomial).  The monomial is a tuple
    (xi power, zeta power, u indices, g' indices, g indices), indices repeated by multiplicity."""
    coeff = sp.Integer(1)
    n_xi = n_zeta = 0
    us, gps, gs = [], [], []
    for factor in sp.Mul.make_args(term):
        if not factor.has(*sym.random):
            if factor.atoms(g, gp) or any(s.name.startswith("u_") for s in factor.free_symbols):
                raise UnsupportedMonomial(f"factor {factor} in {term} involves a field outside "
                                          f"the network with K={sym.K}, M={sym.M}")
            coeff *= factor
            continue
        base, power = factor.as_base_exp()
        if not (power.is_Integer and power > 0):
            raise UnsupportedMonomial(f"non-polynomial factor {factor} in {term}")
        power = int(power)
        if base == xi:
            n_xi += power
        elif base == zeta:
            n_zeta += power
        elif base in sym.field_index:
            us += [sym.field_index[base]] * power
        elif isinstance(base, (g, gp)) and base.args[0] in sym.field_index:
            (gs if isinstance(base, g) else gps).extend([sym.field_index[base.args[0]]] * power)
        else:
            raise UnsupportedMonomial(f"factor {factor} in {term} is not a power of xi, zeta, "
                                      f"a field u_i, g(u_i) or g'(u_i)")
    return coeff, (n_xi, n_zeta, tuple(sorted(us)), tuple(sorted(gps)), tuple(sorted(gs)))


def _field_integral(us, gps, gs):
    """E[prod u * prod g' * prod g] as an integral symbol (theory.md 3.2)."""
    shape = (len(gps), len(us), len(gs))
    if shape == (0, 0, 0):
        return sp.Integer(1)
    if shape == (0, 0, 2):
        return integral("I2", *gs)
    if shape == (2, 0, 0):
        return integral("J2", *gps)
    if shape == (1, 1, 1):
        return integral("I3", gps[0], us[0], gs[0])
    if shape == (2, 0, 2):
        return integral("I4", *gps, *gs)
    if shape == (1, 0, 2):
        return integral("I3g", gps[0], *gs)
    if shape == (1, 0, 0):
        return integral("Eg1", gps[0])
    raise UnsupportedMonomial(
        f"no closed form for E[{' '.join([f'u{i}' for i in us] + [f'gp{i}' for i in gps] + [f'g{i}' for i in gs])}]"
        f": known forms are g g (I2), g' g' (J2), g' u g (I3), g' g' g g (I4), g' g g (I3g), g' (Eg1)")


def _stein(n_zeta, h, sym):
    """E[zeta^n h(u)] = (n-1) phi_F E[zeta^(n-2) h] + sum_j q_j E[zeta^(n-1) dh/du_j]."""
    out = sum((q_j * sp.diff(h, u_j) for q_j, u_j in zip(sym.q, sym.u)), sp.Integer(0))
    out = zeta ** (n_zeta - 1) * out
    if n_zeta >= 2:
        out += (n_zeta - 1) * phi_F * zeta ** (n_zeta - 2) * h
    return expect(out, sym.K, sym.M)


def _expect_monomial(mono, sym):
    n_xi, n_zeta, us, gps, gs = mono
    noise = _gaussian_moment(n_xi)            # xi is independent of zeta and u
    if noise == 0:
        return sp.Integer(0)
    if n_zeta:
        h = sp.Mul(*[sym.u[i] for i in us], *[gp(sym.u[i]) for i in gps],
                   *[g(sym.u[i]) for i in gs])
        return noise * _stein(n_zeta, h, sym)
    return noise * _field_integral(us, gps, gs)


def expect(expr, K, M):
    """E[expr] over u ~ N(0, C), zeta (Cov(zeta, u) = q, Var zeta = phi_F) and xi ~ N(0, 1), for a
    polynomial expr in xi, zeta, u_i, g(u_i), g'(u_i) of a network with K students, M teachers."""
    sym = symbols(K, M)
    by_monomial = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, mono = _split(term, sym)
        by_monomial.setdefault(mono, []).append(coeff)
    return sp.Add(*[sp.Add(*coeffs) * _expect_monomial(mono, sym)
                    for mono, coeffs in by_monomial.items()])


# ---- the learning rules ---------------------------------------------------------------------------

def error(sym, noise=True):
    """e = y_hat - y = sum_k v_k g(lambda_k) - sum_m v*_m g(nu_m) - sigma xi."""
    e = sum(vk * g(lk) for vk, lk in zip(sym.v, sym.lam)) - sum(
        vm * g(nm) for vm, nm in zip(sym.vstar, sym.nu))
    return e - sigma * xi if noise else e


def feedback(rule, sym):
    """The first-layer feedback vector f of a rule: v (BP), b (FA) or a (AFA, PEPITA-linearised)."""
    return {FEEDBACK_V: sym.v, FEEDBACK_FIXED: sym.b, FEEDBACK_ADAPTIVE: sym.a}[rule.feedback]


def per_step_changes(rule, K, M, noise=True):
    """D times the one-step changes of R, Q, v (trained second layer) and, for adaptive feedback,
    a, as random expressions (theory.md Appendix A)."""
    rule = get_rule(rule if isinstance(rule, str) else rule.name, closed_form=True)
    sym = symbols(K, M)
    e = error(sym, noise)
    s = 1 if rule.fe_terms else 0
    force = [f_k * gp(l_k) * e for f_k, l_k in zip(feedback(rule, sym), sym.lam)]
    # projections of the presynaptic factor x - s F e on w_l, w*_n, F
    pre_w = [l_k - s * a_k * e for l_k, a_k in zip(sym.lam, sym.a)]
    pre_wstar = [n_m - s * p_m * e for n_m, p_m in zip(sym.nu, sym.p)]
    pre_F = zeta - s * phi_F * e
    # presynaptic activity of the last-layer update: h (or h~ to first order for pepita-lin)
    h = [g(l_k) - s * a_k * gp(l_k) * e for l_k, a_k in zip(sym.lam, sym.a)]

    out = {
        "R": sp.Matrix(K, M, lambda k, n: -eta * force[k] * pre_wstar[n]),
        "Q": sp.Matrix(K, K, lambda k, l: -eta * (force[l] * pre_w[k] + force[k] * pre_w[l])
                       + eta**2 * force[k] * force[l]),
        "v": sp.Matrix([-eta_v * e * h_k for h_k in h]),
    }
    if rule.feedback == FEEDBACK_ADAPTIVE:
        out["a"] = sp.Matrix([-eta * phi_k * pre_F for phi_k in force])
    return out


@lru_cache(maxsize=None)
def _derive(name, K, M, noise):
    changes = per_step_changes(name, K, M, noise)
    return {key: sp.ImmutableMatrix(mat.shape[0], mat.shape[1],
                                    lambda i, j: sp.expand(expect(mat[i, j], K, M)))
            for key, mat in changes.items()}


def ode_exprs(rule, K, M, train_v=True, noise=True):
    """The ODEs d/dt of the order parameters under `rule` as sympy expressions.

    Returns {'Q': K x K, 'R': K x M, 'v': K x 1 and, for afa/pepita-lin, 'a': K x 1} immutable
    matrices (see the module docstring for the symbols).  `train_v=False` freezes the second
    layer (dv/dt = 0); `noise=False` drops the label-noise terms (sigma = 0)."""
    rule = get_rule(rule if isinstance(rule, str) else rule.name, closed_form=True)
    out = dict(_derive(rule.name, int(K), int(M), bool(noise)))
    if not train_v:
        out["v"] = sp.ImmutableMatrix.zeros(K, 1)
    return out


# ---- LaTeX -------------------------------------------------------------------------------------------

_LATEX_INTEGRAL = {"I2": "I_2", "J2": "J_2", "I3": "I_3", "I4": "I_4", "I3g": "I^g_3",
                   "Eg1": r"\mathbb{E}g'"}


def _latex_names(K, M):
    """LaTeX names of all symbols (1-based labels: students lambda_k, teachers nu_m)."""
    sym = symbols(K, M)
    field = [rf"\lambda_{{{k + 1}}}" for k in range(K)] + [rf"\nu_{{{m + 1}}}" for m in range(M)]
    names = {eta: r"\eta", eta_v: r"\eta_v", sigma: r"\sigma", phi_F: r"\phi_F"}
    for name, vec in (("v", sym.v), ("v^*", sym.vstar), ("b", sym.b), ("a", sym.a), ("p", sym.p)):
        names.update({s: f"{name}_{{{i + 1}}}" for i, s in enumerate(vec)})
    for k, u in enumerate(sym.u):
        names[u] = field[k]
    return names, field


#: the widest row of a right-hand side, in `_glyphs`.  Measured with pdflatex: a glyph is at most
#: 5.3pt wide here, and an article's 345pt text width holds the left-hand side (24pt), the \qquad of
#: a continuation row (20pt) and 56 glyphs; 52 leaves a margin (tests/test_latex.py)
LATEX_ROW_GLYPHS = 52


def _glyphs(tex):
    """Rough printed width of LaTeX math: one per character or symbol, nothing for sizing and
    spacing commands, braces, script markers and spaces."""
    tex = re.sub(r"\\(left|right|bigl|bigr|mathrm|mathbb|quad|qquad)\b", "", tex)
    tex = re.sub(r"\\[a-zA-Z]+", "x", tex)
    return len(re.sub(r"[{}_^\s&]", "", tex))


def _rhs_rows(expr, names):
    """The right-hand side `expr` as rows of LaTeX: its terms grouped by their power of eta and
    eta_v, as `collect` would (\\eta^{2} \\bigl[...\\bigr] + \\eta \\bigl[...\\bigr]), each group
    starting a row and broken after at most LATEX_ROW_GLYPHS."""
    def show(x):
        return sp.latex(x, symbol_names=names)

    groups = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        rest, rate = term.as_independent(eta, eta_v, as_Add=False)
        groups.setdefault(rate, []).append(rest)
    rows = []
    for rate in sp.Add(*groups).as_ordered_terms():
        terms = [show(t) for t in sp.Add(*groups[rate]).as_ordered_terms()]
        opening = ""
        if len(terms) == 1:                       # one term: no brackets, as sympy prints it
            terms = [show(rate * groups[rate][0])]
        elif rate != 1:
            opening = show(rate) + r" \bigl["
            terms[-1] += r"\bigr]"
        signed = [t if t.startswith("- ") else "+ " + t for t in terms]
        row = opening + terms[0]
        if rows:                                  # a later group: a row of its own
            row = r"\quad " + ("+ " + row if opening else signed[0])
        for t in signed[1:]:
            if _glyphs(row + t) > LATEX_ROW_GLYPHS:
                rows.append(row)
                row = r"\qquad " + t
            else:
                row += " " + t
        rows.append(row)
    return rows


def latex(rule, K, M, train_v=True, noise=True):
    """The ODEs as one LaTeX ``aligned`` block, one equation per order-parameter entry (Q for k <= l),
    long right-hand sides broken over rows that fit an article's text width.  Integrals are written
    with their fields, e.g. I_3(\\lambda_1, \\lambda_1, \\nu_1)."""
    exprs = ode_exprs(rule, K, M, train_v, noise)
    names, field = _latex_names(K, M)
    for s in set().union(*(m.free_symbols for m in exprs.values())):
        parsed = parse_integral(s)
        if parsed:
            kind, idx = parsed
            args = [field[i] for i in idx]
            if kind == "I3g":
                args = [args[0] + ";"] + args[1:]
            names[s] = r"%s(%s)" % (_LATEX_INTEGRAL[kind], ", ".join(args).replace(";,", ";"))

    lines = []
    for key, mat in exprs.items():
        rows, cols = mat.shape
        for i in range(rows):
            for j in range(i if key == "Q" else 0, cols):
                label = {"Q": f"Q_{{{i + 1}{j + 1}}}", "R": f"R_{{{i + 1}{j + 1}}}",
                         "v": f"v_{{{i + 1}}}", "a": f"a_{{{i + 1}}}"}[key]
                first, *more = _rhs_rows(mat[i, j], names)
                lines.append(r"\frac{\mathrm{d}%s}{\mathrm{d}t} &= %s" % (label, first))
                lines += ["&" + row for row in more]
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


#: the integrals named in `latex`, defined as in theory.md section 3.2 (for the file preamble)
LATEX_PREAMBLE = r"""% Order-parameter ODEs of a two-layer teacher-student network, derived by tsode's sympy oracle
% (odes.symbolic) from the learning rule: {rule}, K = {K} student and M = {M} teacher units,
% {v_note}{noise_note}.  Needs amsmath and amssymb: use inside equation*, or put the rows
% in align* after \allowdisplaybreaks to let a long system break across pages.
%
% Fields: u = (lambda_1..lambda_K, nu_1..nu_M) ~ N(0, C), C = [[Q, R], [R^T, T]]; g(x) = erf(x/sqrt 2);
% error e = sum_k v_k g(lambda_k) - sum_m v*_m g(nu_m){error_noise}.  Integrals (theory.md 3.2),
% arguments are fields a, b, c, d (repeated fields allowed):
%   I_2(a,b)      = E[g(u_a) g(u_b)]           = (2/pi) arcsin(C_ab / sqrt((1+C_aa)(1+C_bb)))
%   J_2(a,b)      = E[g'(u_a) g'(u_b)]         = (2/pi) / sqrt((1+C_aa)(1+C_bb) - C_ab^2)
%   I_3(a,b,c)    = E[g'(u_a) u_b g(u_c)]      = (2/pi) [C_bc(1+C_aa) - C_ab C_ac] / ((1+C_aa) sqrt(L3)),
%                   L3 = (1+C_aa)(1+C_cc) - C_ac^2
%   I_4(a,b,c,d)  = E[g'(u_a) g'(u_b) g(u_c) g(u_d)] = (4/pi^2) arcsin(L0 / sqrt(L1 L2)) / sqrt(L4),
%                   L4 = (1+C_aa)(1+C_bb) - C_ab^2,
%                   L0 = L4 C_cd - C_bc C_bd (1+C_aa) - C_ac C_ad (1+C_bb) + C_ab C_ac C_bd + C_ab C_ad C_bc,
%                   L1 = L4 (1+C_cc) - C_bc^2 (1+C_aa) - C_ac^2 (1+C_bb) + 2 C_ab C_ac C_bc, L2 likewise in d
%   I^g_3(a;c,d)  = E[g'(u_a) g(u_c) g(u_d)]   = sqrt(2/pi) (1+C_aa)^(-1/2) (2/pi)
%                   arcsin(C'_cd / sqrt((1+C'_cc)(1+C'_dd))),  C'_xy = C_xy - C_xa C_ay / (1+C_aa)
%   E g'(a)       = E[g'(u_a)]                 = sqrt(2/pi) / sqrt(1+C_aa)
% Parameters: eta (first layer), eta_v (second layer), {sigma_note}phi_F = |F|^2;
% v, v* second layers, b the FA feedback, a = W F / sqrt(D) the AF vector, p = W* F / sqrt(D).
"""


def latex_document(rule, K, M, train_v=True, noise=True):
    """`latex` with a comment preamble that defines every integral and symbol (for a paper); it
    mentions sigma and the label noise only with `noise`."""
    rule_rec = get_rule(rule, closed_form=True)
    head = LATEX_PREAMBLE.format(rule=f"{rule_rec.name} ({rule_rec.description})", K=K, M=M,
                                 v_note="second layer trained" if train_v else "second layer frozen",
                                 noise_note=", with label noise sigma xi" if noise else "",
                                 error_noise=" - sigma xi, xi ~ N(0, 1)" if noise else "",
                                 sigma_note="sigma (label noise), " if noise else "")
    return head + latex(rule, K, M, train_v, noise) + "\n"


# ---- numerical evaluation ----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _compiled(name, K, M, train_v):
    """Lambdified ODEs: f(parameters, integral values) -> flat list (Q, R, v[, a]), plus the
    ordered integral symbols and the keys/shapes of the output."""
    exprs = ode_exprs(name, K, M, train_v=train_v, noise=True)
    flat = [x for mat in exprs.values() for x in mat]
    found = sorted(set().union(*(sp.sympify(x).free_symbols for x in flat)), key=lambda s: s.name)
    integral_syms = [s for s in found if parse_integral(s)]
    fn = sp.lambdify([symbols(K, M).parameters(), integral_syms], flat, modules="numpy")
    shapes = [(key, mat.shape) for key, mat in exprs.items()]
    return fn, tuple(parse_integral(s) for s in integral_syms), shapes


_INTEGRAL_ARRAYS = {"I2": integrals.I2, "J2": integrals.J2, "I3": integrals.I3,
                    "I4": integrals.I4, "I3g": integrals.I3g, "Eg1": integrals.Eg1}


def derivatives(state, rule, eta, eta_v=None, sigma=0.0, train_v=True):
    """Time derivatives of the order parameters of `state` under `rule`, evaluated from the
    symbolic derivation; same return convention as `odes.rhs.derivatives` (dict with 'Q', 'R',
    'v', and 'a' for afa/pepita-lin, 'b' = zeros for fa)."""
    rule = get_rule(rule if isinstance(rule, str) else rule.name, closed_form=True)
    state.check_rule(rule)
    K, M = state.K, state.M
    eta_v = eta if eta_v is None else eta_v
    fn, needed, shapes = _compiled(rule.name, K, M, bool(train_v))

    C = state.C()
    arrays = {kind: _INTEGRAL_ARRAYS[kind](C) for kind in {kind for kind, _ in needed}}
    values = [arrays[kind][idx] for kind, idx in needed]
    zeros_K, zeros_M = np.zeros(K), np.zeros(M)
    params = [*state.v, *state.v_star,
              *(state.b if state.b is not None else zeros_K),
              *(state.a if state.a is not None else zeros_K),
              *(state.p if state.p is not None else zeros_M),
              state.phi_F if state.phi_F is not None else 0.0, eta, eta_v, sigma]
    flat = np.asarray(fn(params, values), dtype=float)

    out, start = {}, 0
    for key, shape in shapes:
        size = shape[0] * shape[1]
        block = flat[start:start + size].reshape(shape)
        out[key] = block if key in ("Q", "R") else block[:, 0]
        start += size
    if rule.feedback == FEEDBACK_FIXED:
        out["b"] = np.zeros(K)
    return out
