"""State construction and validation."""
import json

import numpy as np
import pytest

import odes
from odes import State, StateError


def base(**kw):
    d = dict(Q=np.eye(2), R=np.zeros((2, 2)), T=np.eye(2), v=np.ones(2), v_star=np.ones(2))
    d.update(kw)
    return d


def test_from_weights_matches_definitions(rng):
    D = 300
    W, Ws, F = rng.standard_normal((3, D)), rng.standard_normal((2, D)), rng.standard_normal(D) / 10
    s = State.from_weights(W, Ws, np.ones(3), np.ones(2), F=F)
    np.testing.assert_allclose(s.Q[0, 1], W[0] @ W[1] / D)
    np.testing.assert_allclose(s.R[2, 1], W[2] @ Ws[1] / D)
    np.testing.assert_allclose(s.a[1], W[1] @ F / np.sqrt(D))
    np.testing.assert_allclose(s.p[0], Ws[0] @ F / np.sqrt(D))
    assert s.phi_F == pytest.approx(F @ F)


@pytest.mark.parametrize("kw,match", [
    (dict(Q=np.eye(3)), "R: expected shape"),
    (dict(v=np.ones(3)), "v: expected shape"),
    (dict(R=np.full((2, 2), np.nan)), "R: contains non-finite"),
    (dict(Q=np.array([[1.0, 0.5], [0.4, 1.0]])), "Q: not symmetric"),
    (dict(Q=np.array([[1.0, 2.0], [2.0, 1.0]])), "not positive semidefinite"),
    (dict(R=np.eye(2) * 1.5), "not positive semidefinite"),
    (dict(Q=np.zeros((0, 0))), "Q: expected a non-empty"),
    (dict(a=np.ones(2)), "p: needed"),
    (dict(a=np.ones(2) * 3, p=np.zeros(2), phi_F=1.0), "not positive semidefinite"),
    (dict(a=np.ones(2), p=np.zeros(2), phi_F=-1.0), "phi_F: must be >= 0"),
    (dict(v="x"), "v: expected numbers, got text"),
    (dict(v=["0.5", 1]), "v: expected numbers, got text"),
    (dict(v=[[1, 2], [3]]), "v: not an array of numbers"),
])
def test_invalid_states_are_named(kw, match):
    with pytest.raises(StateError, match=match):
        State(**base(**kw))


def test_json_round_trip_and_errors(tmp_path):
    s = State(**base(b=np.array([1.0, -1.0])))
    s.to_json(tmp_path / "ic.json")
    back = State.from_json(tmp_path / "ic.json")
    np.testing.assert_array_equal(back.b, s.b)
    d = base()
    d = {k: np.asarray(x).tolist() for k, x in d.items()}
    del d["T"]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(StateError, match="T: missing"):
        State.from_json(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps({**d, "T": [[1, 0], [0, 1]], "Z": 1}))
    with pytest.raises(StateError, match="unknown keys"):
        State.from_json(tmp_path / "bad2.json")


def test_random_state_is_reproducible_and_near_identity():
    a, b = State.random(2, 3, 4000, seed=11), State.random(2, 3, 4000, seed=11)
    np.testing.assert_array_equal(a.Q, b.Q)
    assert np.abs(a.Q - np.eye(2)).max() < 0.1 and np.abs(a.R).max() < 0.1
    assert not np.array_equal(a.Q, State.random(2, 3, 4000, seed=12).Q)


def test_realise_reproduces_state_to_machine_precision(rng):
    from conftest import random_state
    s = random_state(3, 2, rng)
    w = odes.realise(s, 50, seed=2)
    back = State.from_weights(w.W, w.W_star, w.v, w.v_star, F=w.F)
    for k in ("Q", "R", "T", "a", "p"):
        np.testing.assert_allclose(getattr(back, k), getattr(s, k), atol=1e-13)
    assert back.phi_F == pytest.approx(s.phi_F, abs=1e-13)
