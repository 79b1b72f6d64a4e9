"""Saving results: arrays in an .npz file, every parameter in a .json sidecar of the same name.
Used by `odes.Result` and by the simulator's results, so that all outputs look alike."""
import json
from pathlib import Path

import numpy as np


def npz_path(path):
    """`path` with the suffix .npz."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_suffix(".npz")


def sidecar_path(path):
    """The .json file that accompanies an .npz file."""
    return Path(path).with_suffix(".json")


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x)}")


def save(path, arrays, meta):
    """Write `arrays` (dict of arrays) to path.npz and `meta` (dict) to path.json; return the .npz path."""
    path = npz_path(path)
    np.savez(path, **arrays)
    with open(sidecar_path(path), "w") as fh:
        json.dump(meta, fh, indent=1, default=_jsonable)
    return path


def load(path):
    """(arrays, meta) from path.npz and its .json sidecar."""
    path = npz_path(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    with open(sidecar_path(path)) as fh:
        meta = json.load(fh)
    return arrays, meta
