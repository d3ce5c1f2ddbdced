"""Integer primitives that behave the same on numpy arrays and on concrete tracers."""

import numpy as np
from concrete import fhe


def round_bit_pattern(x, lsbs_to_remove: int, exact: bool = True):
    """Round ``x`` to the nearest multiple of ``2**lsbs_to_remove`` (ties away from zero, as TFHE does).

    ``exact=False`` lets the FHE circuit use concrete's approximate rounding: cheaper, but an encrypted
    result may then differ from the clear one by one rounding step.
    """
    if lsbs_to_remove <= 0:
        return x
    exactness = fhe.Exactness.EXACT if exact else fhe.Exactness.APPROXIMATE
    return fhe.round_bit_pattern(x, lsbs_to_remove=lsbs_to_remove, exactness=exactness)


def hint_bit_width(x, bit_width: int):
    """Tell the compiler the worst-case bit-width of ``x``; a no-op on numpy arrays.

    Concrete sizes every integer from the bounds it observes on the inputset. Veil knows the worst case
    analytically, so it pins the bit-width to it: rows that reach values the inputset never did can
    then never wrap around inside the circuit.
    """
    if isinstance(x, np.ndarray | np.integer | int):
        return x
    return fhe.hint(x, bit_width=bit_width)


def table_lookup(x, function, bit_width: int, lsbs_to_remove: int = 0):
    """Apply the elementwise ``function`` to the non-negative integers ``x``.

    On numpy arrays ``function`` is called directly. On a tracer the function is tabulated over every
    value of the ``bit_width``-bit unsigned domain (one table per position when the function's
    result depends on the position), which is the table lookup the circuit performs. Both paths run
    the same numpy code on the same integers, so clear and encrypted results agree bit for bit.

    Parameters
    ----------
    x : numpy.ndarray or Tracer
        Non-negative integers of shape ``(rows, *row_shape)``.
    function : callable
        Maps an int64 array of shape ``(n, *row_shape)`` to an int64 array of the same shape.
    bit_width : int
        Bit-width of ``x`` (the compiler's, after any rounding).
    lsbs_to_remove : int
        ``x`` holds multiples of ``2**lsbs_to_remove``; the table is sampled on them only.
    """
    if isinstance(x, np.ndarray | np.integer | int):
        return function(np.asarray(x, dtype=np.int64))
    row_shape = tuple(x.shape[1:])
    domain = np.arange(2**bit_width, dtype=np.int64)
    # Values that are not multiples of the rounding step never occur; map them to a neighbour that does
    # so the table stays small to compute.
    sampled = (domain >> lsbs_to_remove) << lsbs_to_remove
    values = np.broadcast_to(sampled.reshape((-1,) + (1,) * len(row_shape)), (domain.size, *row_shape))
    tables = np.asarray(function(np.ascontiguousarray(values)), dtype=np.int64)
    flat = tables.reshape(domain.size, -1)
    if np.all(flat == flat[:, :1]):
        return fhe.LookupTable(flat[:, 0])[x]
    per_position = np.empty(flat.shape[1], dtype=object)
    for position in range(flat.shape[1]):
        per_position[position] = fhe.LookupTable(flat[:, position])
    return fhe.LookupTable(per_position.reshape((1, *row_shape)))[x]
