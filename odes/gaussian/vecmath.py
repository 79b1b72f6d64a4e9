"""Elementary functions over short arrays, vectorised with glibc's vector math library (libmvec).

The compiled kernels spend most of their time in arcsin (the closed-form integrals of erf) and in
erf and exp (the activation at quadrature nodes).  numba calls the scalar libm functions for these,
about 9-11 ns each; glibc >= 2.35 ships SIMD versions (`_ZGVdN4v_asin` for AVX2, `_ZGVeN8v_asin`
for AVX-512, the x86-64 vector ABI names), accurate to 4 ulp, which take 1.5-4 ns per element.
This module calls them from numba:

    asin_n(x, out, n)     out[:n] = arcsin(x[:n])
    erf_n(x, out, n)      out[:n] = erf(x[:n])
    exp_n(x, out, n)      out[:n] = exp(x[:n])

Whole vectors of WIDTH elements are computed while they fit in both arrays, the rest one by one
with libm; a caller that pads its scratch arrays to `padded(n)` gets every element from the vector
code (the padding entries are computed too, from whatever they hold, and are to be ignored).

WIDTH is 8 when numba compiles for a CPU with AVX-512F, 4 with AVX2, and 1 (plain libm, no vector
calls) without either or without libmvec.  numba compiles for the host unless NUMBA_CPU_NAME or
NUMBA_CPU_FEATURES say otherwise (e.g. NUMBA_CPU_NAME=generic for caches shared between machines):
then only the features named in NUMBA_CPU_FEATURES count, so NUMBA_CPU_NAME=generic alone gives the
scalar path, which is also the way to switch the vector calls off.  numba's disk cache is keyed on
that target, so cached kernels always match the WIDTH they were compiled with.
"""
import ctypes
import ctypes.util
import math

import llvmlite.binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

FUNCTIONS = ("asin", "erf", "exp")


def _target_features():
    """The CPU features numba compiles for: the host's, unless NUMBA_CPU_FEATURES lists them or
    NUMBA_CPU_NAME names another CPU (then the features listed, or none)."""
    from numba.core import config
    if config.CPU_FEATURES:
        return {f[1:]: f[0] == "+" for f in config.CPU_FEATURES.split(",") if f[:1] in "+-" and f[1:]}
    if config.CPU_NAME and config.CPU_NAME != "host":
        return {}
    return llvm.get_host_cpu_features()


def _libmvec():
    """(library, name) of glibc's libmvec, by its soname first (find_library runs ldconfig), or
    (None, None)."""
    for find in (lambda: "libmvec.so.1", lambda: ctypes.util.find_library("mvec")):
        name = find()
        try:
            return (ctypes.CDLL(name), name) if name else (None, None)
        except OSError:
            continue
    return None, None


def _detect():
    """(WIDTH, library name): the widest vector ABI the target CPU and libmvec both offer, else
    (1, None)."""
    features = _target_features()
    widths = [(w, isa) for w, isa, flag in ((8, "e", "avx512f"), (4, "d", "avx2"))
              if features.get(flag, False)]
    lib, name = _libmvec() if widths else (None, None)
    for width, isa in widths:
        if lib is not None and all(hasattr(lib, f"_ZGV{isa}N{width}v_{f}") for f in FUNCTIONS):
            return width, name
    return 1, None


WIDTH, LIBRARY = _detect()
_ISA = {8: "e", 4: "d"}.get(WIDTH)
if LIBRARY is not None:
    llvm.load_library_permanently(LIBRARY)       # so that the JIT resolves the _ZGV symbols


@njit(cache=True)
def padded(n):
    """The length to which a scratch array of n used elements is padded so that every element is
    computed by whole vectors."""
    return -(-n // WIDTH) * WIDTH


def _vector_call(name):
    """An intrinsic (x, out, i) computing out[i:i+WIDTH] = name(x[i:i+WIDTH]) with one call of
    libmvec's WIDTH-wide function (float64 arrays, C-contiguous)."""
    symbol = f"_ZGV{_ISA}N{WIDTH}v_{name}"

    @intrinsic
    def call(typingctx, x, out, i):
        for a in (x, out):
            if not (isinstance(a, types.Array) and a.dtype == types.float64 and a.layout == "C"):
                return None
        def codegen(context, builder, signature, args):
            vec = ir.VectorType(ir.DoubleType(), WIDTH)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]), symbol)
            src = context.make_array(signature.args[0])(context, builder, value=args[0])
            dst = context.make_array(signature.args[1])(context, builder, value=args[1])
            p_src = builder.bitcast(builder.gep(src.data, [args[2]]), vec.as_pointer())
            p_dst = builder.bitcast(builder.gep(dst.data, [args[2]]), vec.as_pointer())
            builder.store(builder.call(fn, [builder.load(p_src, align=8)]), p_dst, align=8)
            return context.get_dummy_value()
        return types.void(x, out, types.intp), codegen
    return call


def _scalar_call(fn):
    """(x, out, i) computing out[i] = fn(x[i]): a "vector" of one element, for WIDTH = 1."""
    @njit(inline="always")
    def call(x, out, i):
        out[i] = fn(x[i])
    return call


@njit(inline="always")
def _whole_vectors(n, x, out):
    """How many elements of x[:n] whole vectors cover without reading or writing past either array."""
    m = padded(n)
    lim = (min(x.size, out.size) // WIDTH) * WIDTH
    return m if m <= lim else lim


def _array_function(name, scalar):
    """out[:n] = name(x[:n]) for float64 arrays x, out: whole vectors where they fit, then libm's
    `scalar` one element at a time."""
    vector = _vector_call(name) if WIDTH > 1 else _scalar_call(scalar)

    @njit(inline="always")
    def apply(x, out, n):
        m = _whole_vectors(n, x, out)
        for i in range(0, m, WIDTH):
            vector(x, out, i)
        for i in range(m, n):
            out[i] = scalar(x[i])
    apply.__doc__ = f"out[:n] = {name}(x[:n])."
    return apply


asin_n = _array_function("asin", math.asin)
erf_n = _array_function("erf", math.erf)
exp_n = _array_function("exp", math.exp)
