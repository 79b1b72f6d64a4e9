"""The right-hand sides of the order-parameter ODEs: the packed state's layout, the parameter
vector, the fields read from the state, the closed-form kernel and the quadrature kernel
(exact PEPITA and its variants), and `evaluate`/`derivatives` for Python callers."""
from .kernel import (XI_NODES, constants, derivatives, evaluate, kernel_args, layout, pack,
                     quadrature_nodes, rhs_kernel, unpack, unpack_mirrored, workspace)
from .mirroring import Mirroring, mirroring

__all__ = ["Mirroring", "XI_NODES", "constants", "derivatives", "evaluate", "kernel_args", "layout",
           "mirroring", "pack", "quadrature_nodes", "rhs_kernel", "unpack", "unpack_mirrored",
           "workspace"]
