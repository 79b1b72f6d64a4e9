"""Gradients of the observables with respect to the physical coordinates (for the standard
deviations of the linear-noise approximation, grad O^T Sigma~ grad O / D)."""
import numpy as np

from ..observables import eps_g as _eps_g


def gradient(name, names, Q, R, v, T, v_star, activation, E):
    """d(observable)/d(physical coordinates `names`) at (Q, R, v): a unit vector for a coordinate,
    central differences (step 1e-6) for 'eps_g', through the embedding E of the physical into the
    flat coordinates (Q_kl for k < l moves Q_lk too; `odes.fixed_points`)."""
    if name in names:
        grad = np.zeros(len(names))
        grad[names.index(name)] = 1.0
        return grad
    if name != "eps_g":
        raise ValueError(f"unknown observable {name!r}: eps_g or one of {', '.join(names)}")
    K, M = np.shape(R)
    y = np.concatenate([np.ravel(Q), np.ravel(R), np.ravel(v)])
    value = eps_g_of(K, M, T, v_star, activation)
    h = 1e-6
    Ey = E[:y.size]                     # the rows of Q, R and v (the flat layout's first slots)
    return np.array([(value(y + h * Ey[:, j]) - value(y - h * Ey[:, j]))[0] / (2 * h)
                     for j in range(E.shape[1])])


def eps_g_of(K, M, T, v_star, activation):
    """eps_g as a function of the vector (Q.ravel(), R.ravel(), v) (the flat layout's first
    slots), returned as a 1-vector."""
    nQ, nR = K * K, K * M

    def value(yy):
        return np.atleast_1d(_eps_g(yy[:nQ].reshape(K, K), yy[nQ:nQ + nR].reshape(K, M), T,
                                    yy[nQ + nR:nQ + nR + K], v_star, activation))
    return value
