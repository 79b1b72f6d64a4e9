"""Learning rules as data.

Every rule of the toolkit updates the first layer as w_k <- w_k - (eta/sqrt(D)) f_k g'(lambda_k) e x'
with a first-layer *feedback vector* f and a presynaptic input x' (theory.md section 2):

- ``bp``: feedback f = the second layer v; no Fe terms.
- ``fa``: f = a fixed random vector b; no Fe terms.
- ``afa``: f = the AF vector a = W F/sqrt(D), recomputed every step; no Fe terms.
- ``pepita-lin``: f = the AF vector a, with the Fe terms (x' = x - F e, h~ in the last layer;
  theory.md section 2.6).
- ``pepita``: exact PEPITA, two forward passes, no Taylor step (theory.md sections 2.4, 3.6).
- ``pepita-hebbian``: PEPITA in Hebbian/anti-Hebbian form, the paper's code's "mixed" mode
  (theory.md 8.3): first layer h x^T - h~ x~^T, last layer yhat h - y h~.
- ``pepita-tl``: time-local PEPITA, the code's "mixed_tl" mode (theory.md 8.3): the Hebbian
  half-update on the clean pass, then the anti-Hebbian one on x~ with the weights after the first.
- ``ff``: Forward-Forward with top-down feedback (theory.md 11.1): the clean pass and the
  modulated pass x~ = x - F e each weighted by a logistic of its goodness G = sum_k g(lambda_k)^2
  against a threshold theta (which pass is positive is a run parameter), the last layer by the
  delta rule on the clean pass.

The ODEs of bp, fa, afa and pepita-lin are closed-form (`odes.rhs`); exact PEPITA's expectations
have no closed form and are evaluated by quadrature (`odes.rhs.quadrature`, `odes.gaussian.expectations`).

A rule is a `Rule` record; the ODE kernel and the simulator read its fields and contain no
per-rule copies of their loops.
"""
from dataclasses import dataclass

import numpy as np

from .activations import activation_code

FEEDBACK_V, FEEDBACK_FIXED, FEEDBACK_ADAPTIVE = 0, 1, 2


@dataclass(frozen=True)
class Rule:
    """A learning rule as data (the table of `odes.rules`); the entries of `RULES`.

    The ODE kernel and the simulator read its fields and contain no per-rule copies of their
    loops.  Look one up with `get_rule`.

    Parameters
    ----------
    name : str
        The rule's name, e.g. 'bp'.
    feedback : int
        The first-layer feedback vector: FEEDBACK_V (the second layer v), FEEDBACK_FIXED (FA's
        fixed b) or FEEDBACK_ADAPTIVE (the AF vector a = W F/sqrt(D)).
    fe_terms : bool
        Keep x - F e and h~ (pepita-lin, and exact PEPITA and its variants).
    exact_pepita : bool, default False
        Two forward passes, no Taylor step (ODE by quadrature).
    description : str, default ''
        One line on the rule.
    hebbian : bool, default False
        Exact PEPITA's Hebbian/anti-Hebbian form (theory.md 8.3).
    time_local : bool, default False
        The Hebbian form's two half-updates in sequence (theory.md 8.3).
    ff : bool, default False
        Forward-Forward's goodness-weighted passes (theory.md 11.1; with exact_pepita, for the
        two passes and the quadrature).

    Attributes
    ----------
    uses_F : bool
        Whether the rule has adaptive feedback (and so needs F: a, p, phi_F).

    Examples
    --------
    >>> import odes
    >>> r = odes.get_rule("pepita")
    >>> r.feedback_name, r.exact_pepita, r.uses_F
    ('a', True, True)
    """
    name: str
    feedback: int          # FEEDBACK_V, FEEDBACK_FIXED (b) or FEEDBACK_ADAPTIVE (a = WF/sqrt(D))
    fe_terms: bool         # keep x - Fe and h~ (pepita-lin)
    exact_pepita: bool = False   # two forward passes, no Taylor step (ODE by quadrature)
    description: str = ""
    hebbian: bool = False        # exact PEPITA's Hebbian/anti-Hebbian form (theory.md 8.3)
    time_local: bool = False     # the Hebbian form's two half-updates in sequence (theory.md 8.3)
    ff: bool = False             # Forward-Forward's goodness-weighted passes (theory.md 11.1)

    @property
    def feedback_name(self):
        """Name of the feedback order parameter stored in a state/result: 'b', 'a' or None."""
        return {FEEDBACK_V: None, FEEDBACK_FIXED: "b", FEEDBACK_ADAPTIVE: "a"}[self.feedback]

    @property
    def uses_F(self):
        return self.feedback == FEEDBACK_ADAPTIVE


RULES = {
    "bp": Rule("bp", FEEDBACK_V, False, description="backpropagation"),
    "fa": Rule("fa", FEEDBACK_FIXED, False, description="feedback alignment, fixed b"),
    "afa": Rule("afa", FEEDBACK_ADAPTIVE, False, description="adaptive feedback alignment, f = WF/sqrt(D)"),
    "pepita-lin": Rule("pepita-lin", FEEDBACK_ADAPTIVE, True,
                       description="PEPITA linearised: AFA plus the Fe terms"),
    "pepita": Rule("pepita", FEEDBACK_ADAPTIVE, True, exact_pepita=True,
                   description="exact PEPITA, two forward passes"),
    "pepita-hebbian": Rule("pepita-hebbian", FEEDBACK_ADAPTIVE, True, exact_pepita=True, hebbian=True,
                           description="PEPITA, Hebbian/anti-Hebbian form (h x^T - h~ x~^T)"),
    "pepita-tl": Rule("pepita-tl", FEEDBACK_ADAPTIVE, True, exact_pepita=True, hebbian=True,
                      time_local=True,
                      description="time-local PEPITA: Hebbian half-step, then anti-Hebbian on x~"),
    "ff": Rule("ff", FEEDBACK_ADAPTIVE, True, exact_pepita=True, ff=True,
               description="Forward-Forward: logistic goodness weighting of the clean and the "
                           "modulated pass"),
}

#: rules with order-parameter ODEs (all of them; exact PEPITA's by quadrature)
ODE_RULES = tuple(RULES)
#: rules whose ODE right-hand side is in closed form
CLOSED_FORM_RULES = tuple(name for name, r in RULES.items() if not r.exact_pepita)


#: positions of a run's rule codes, the integers through which both compiled halves read a rule
#: (`codes`): the ODE's parameter vector starts with them (`odes.rhs.parameters`), the simulator's
#: flags are them (`simulate.kernel`)
FEEDBACK, FE_TERMS, EXACT, TRAIN_V, HEBBIAN, TIME_LOCAL, ACTIVATION, FF = range(8)
N_CODES = 8


def codes(rule, train_v, activation="erf"):
    """The integer codes of a run of `rule` (positions FEEDBACK ... FF): the feedback kind, the Fe
    terms, exact PEPITA, a trained second layer, the Hebbian and time-local forms, the
    activation's code (`odes.activations`) and Forward-Forward."""
    out = np.zeros(N_CODES, np.int64)
    out[FEEDBACK], out[FE_TERMS], out[EXACT] = rule.feedback, rule.fe_terms, rule.exact_pepita
    out[TRAIN_V], out[HEBBIAN], out[TIME_LOCAL] = bool(train_v), rule.hebbian, rule.time_local
    out[ACTIVATION] = activation_code(activation)
    out[FF] = rule.ff
    return out


def get_rule(name, closed_form=False):
    """Look up a rule by name (every rule has an ODE).

    Parameters
    ----------
    name : str
        A name of `RULES`: 'bp', 'fa', 'afa', 'pepita-lin', 'pepita', 'pepita-hebbian',
        'pepita-tl' or 'ff'.
    closed_form : bool, default False
        Restrict to the rules whose ODEs are in closed form (the symbolic derivation): all but
        exact PEPITA and its variants.

    Returns
    -------
    Rule

    Raises
    ------
    ValueError
        For an unknown name, or a rule without a closed-form ODE when closed_form=True; the
        message names the choices.

    Examples
    --------
    >>> import odes
    >>> odes.get_rule("fa").feedback_name
    'b'
    """
    allowed = CLOSED_FORM_RULES if closed_form else tuple(RULES)
    if name not in allowed:
        if name in RULES:
            raise ValueError(f"rule {name!r} has no closed-form ODE (its expectations are evaluated "
                             f"by quadrature); choose one of {', '.join(allowed)}")
        raise ValueError(f"unknown rule {name!r}; choose one of {', '.join(allowed)}")
    return RULES[name]


#: Forward-Forward's default goodness threshold theta (theory.md 11.1; a choice: of the order of
#: the goodness sum_k g(lambda_k)^2 of K = 2 erf units at Q_kk ~ 1, 2/3)
FF_THETA = 1.0
#: which of Forward-Forward's passes is the positive one (its goodness is raised)
FF_POSITIVE = ("modulated", "clean")
#: Forward-Forward's keywords on every entry point (`ff_options`)
FF_KEYWORDS = ("ff_theta", "ff_positive")


def ff_options(rule, ff_theta=None, ff_positive=None):
    """Forward-Forward's options of a run of `rule` (a `Rule`), validated: (theta, clean_positive)
    for the rule 'ff' (defaults FF_THETA and 'modulated'), None for the others.

    Raises
    ------
    ValueError
        One line: a theta that is not a finite number, a positive pass not in FF_POSITIVE, or
        either option given for a rule other than 'ff'.
    """
    if not rule.ff:
        if ff_theta is not None or ff_positive is not None:
            raise ValueError(f"ff_theta and ff_positive are options of the rule ff, not "
                             f"{rule.name}")
        return None
    theta = FF_THETA if ff_theta is None else ff_theta
    if isinstance(theta, bool) or not isinstance(theta, (int, float, np.floating, np.integer)) \
            or not np.isfinite(theta):
        raise ValueError(f"ff_theta must be a finite number, got {ff_theta!r}")
    positive = FF_POSITIVE[0] if ff_positive is None else ff_positive
    if positive not in FF_POSITIVE:
        raise ValueError(f"ff_positive must be one of {', '.join(FF_POSITIVE)}, got {ff_positive!r}")
    return float(theta), positive == "clean"


def ff_keywords(ff):
    """The keywords (FF_KEYWORDS) of Forward-Forward's options `ff` from `ff_options`, as a run
    records them: {} for None."""
    return {} if ff is None else dict(ff_theta=ff[0], ff_positive=FF_POSITIVE[int(ff[1])])
