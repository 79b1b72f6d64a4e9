"""Saving results: arrays in an .npz file, every parameter in a .json sidecar of the same name.
Used by `odes.Result` and by the simulator's results, so that all outputs look alike.

Every file is written atomically (`atomic_write`): to a temporary name in the same directory,
then renamed over the target, so that an interrupted run leaves either the old file or the new
one, never a truncated one; it gets the mode of any other new file (0666 less the umask).
`unwritable` tells before a run whether its outputs can be written.
"""
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_write(path, mode="w"):
    """Open a temporary file beside `path` for writing; on success it replaces `path` (os.replace),
    on an exception it is removed and `path` is left as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())          # mkstemp's file is private (0600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def unwritable(path):
    """Why a file cannot be written at `path` (a short reason), or None if it can: the nearest
    existing directory above it is probed by creating and removing a temporary file, which
    catches what permission bits do not (a read-only or special filesystem, a full disk)."""
    path = Path(path)
    if path.is_dir():
        return "it is a directory"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".tsode-probe-")
    except OSError as err:
        return f"{parent} is not writable ({err.strerror})"
    os.close(fd)
    os.unlink(tmp)
    return None


def _umask():
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    text = json.dumps(meta, indent=1, default=_jsonable)      # fails before anything is written
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)
    with atomic_write(sidecar_path(path)) as fh:
        fh.write(text)
    return path


def save_table(path, columns):
    """CSV of (name, (n,) array) columns: a header line, then one row per entry; atomic."""
    with atomic_write(path) as fh:
        np.savetxt(fh, np.column_stack([c for _, c in columns]), delimiter=",",
                   header=",".join(n for n, _ in columns), comments="", fmt="%.10g")
    return Path(path)


def load(path):
    """(arrays, meta) from path.npz and its .json sidecar."""
    path = npz_path(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    with open(sidecar_path(path)) as fh:
        meta = json.load(fh)
    return arrays, meta
