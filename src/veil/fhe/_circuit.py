"""Compile one integer forward function to a TFHE circuit and run it."""

from __future__ import annotations

import json
import math
import numbers
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from concrete import fhe
from concrete.fhe.dtypes import Integer

from veil._warnings import user_stacklevel

# One table lookup fails with probability 2**-32 (2e-10): a 64-lookup row fails once in ~7e7 rows, far
# below any quantization error, and concrete's simulation, which models failures, still equals the clear
# run on every benchmarked test set. Measured on the default digits network (61 five-bit lookups, 7-bit
# output): 2**-40 took 2.78 s per row, 110 MB of keys and 5.1 s of keygen; 2**-32 takes 1.64 s, 54 MB and
# 3.7 s. 4-bit circuits barely change (iris: 25.3 -> 25.0 MB). 2**-20 would halve digits again (27 MB)
# but would make clear == simulate fail about once per million lookups. The global bound is left to the
# per-lookup one.
DEFAULT_P_ERROR = 2.0**-32
DEFAULT_GLOBAL_P_ERROR = None
# Seeded compression: evaluation keys travel 4x smaller (measured 227 MB -> 57 MB at 5 bits) and an
# encrypted input ~800x smaller; the server expands them once, at no measured cost per run.
COMPRESS_KEYS_AND_INPUTS = True
# Above this, key generation takes a minute or more and the keys may not fit a client's memory: worth a
# warning. Below it, measured on 2 cores: 8-bit values rounded to 6-bit lookups (the capacity search's
# rounded candidate) expand to 1.2 GB and generate in under 20 s.
LARGE_KEY_BYTES = 2 * 10**9


@dataclass(frozen=True)
class CircuitStatistics:
    """What a compiled circuit costs. A figure concrete cannot report for this circuit is ``None`` (unknown).

    Key sizes are unknown for circuits with packing key-switching keys (lookups too wide for one
    programmable bootstrap, about 9 bits and more), whose key layout Veil does not size.

    Attributes
    ----------
    max_bit_width : int
        Largest integer bit-width of any encrypted value in the circuit.
    table_lookups_by_bit_width : dict[int, int]
        Number of elementwise table lookups, keyed by the bit-width the lookup actually reads: after a
        rounding that removes ``k`` low bits, that is the rounded value's width minus ``k``.
    rounding_bootstrap_count : int
        Programmable bootstraps spent rounding accumulators (exact rounding removes one bit per bootstrap).
    programmable_bootstrap_count : int
        Total programmable bootstraps: table lookups plus rounding bootstraps.
    evaluation_key_bytes : int
        Bytes of bootstrap and key-switching key material the client sends the server (seed-compressed).
    server_key_bytes : int
        Bytes the same keys take in the server's memory, expanded.
    complexity : float
        Concrete's cost model estimate of one circuit evaluation.
    p_error, global_p_error : float
        Failure probability of one lookup and of the whole circuit.
    """

    max_bit_width: int
    table_lookups_by_bit_width: dict[int, int]
    rounding_bootstrap_count: int
    programmable_bootstrap_count: int
    evaluation_key_bytes: int | None
    server_key_bytes: int | None
    complexity: float | None
    p_error: float | None
    global_p_error: float | None

    @property
    def unknown(self) -> list[str]:
        """Names of the figures concrete could not report for this circuit."""
        return [name for name, value in self.to_dict().items() if value is None]

    def to_dict(self) -> dict:
        """Plain-python form, ready for JSON (unknown figures are ``None``)."""
        return {
            "max_bit_width": self.max_bit_width,
            "table_lookups_by_bit_width": {str(k): v for k, v in self.table_lookups_by_bit_width.items()},
            "rounding_bootstrap_count": self.rounding_bootstrap_count,
            "programmable_bootstrap_count": self.programmable_bootstrap_count,
            "evaluation_key_bytes": self.evaluation_key_bytes,
            "server_key_bytes": self.server_key_bytes,
            "complexity": self.complexity,
            "p_error": self.p_error,
            "global_p_error": self.global_p_error,
        }


class FheCircuit:
    """A compiled circuit of one encrypted integer input and one encrypted integer output.

    The circuit has the fixed input shape it was compiled with (one row, usually); :meth:`simulate`
    and :meth:`encrypt_run_decrypt` loop over the leading axis of larger batches.
    """

    def __init__(
        self,
        circuit: fhe.Circuit,
        input_shape: tuple[int, ...],
        p_error: float | None = DEFAULT_P_ERROR,
        global_p_error: float | None = DEFAULT_GLOBAL_P_ERROR,
    ):
        self._circuit = circuit
        self.input_shape = input_shape
        self.p_error = p_error
        self.global_p_error = global_p_error

    def server_description(self) -> dict:
        """What a server needs to rebuild this circuit, and what its client needs to talk to it.

        ``mlir`` and the error probabilities recompile the circuit (:meth:`FheServer.from_mlir`);
        ``client_specs`` holds the key and ciphertext parameters (:class:`FheClient`). Raises a
        ``ValueError`` naming the reason when a server could not load the circuit (see
        :attr:`deployment_refusal`).
        """
        refusal = self.deployment_refusal
        if refusal is not None:
            raise ValueError(f"this circuit cannot be deployed: {refusal}")
        return {
            "mlir": self.mlir,
            "p_error": self.p_error,
            "global_p_error": self.global_p_error,
            "client_specs": self._circuit.client.specs.serialize(),
            "input_shape": self.input_shape,
        }

    @property
    def mlir(self) -> str:
        """The MLIR text that concrete compiled (useful when a circuit surprises you)."""
        return self._circuit.mlir

    @property
    def statistics(self) -> CircuitStatistics:
        """Bit-widths, lookup counts, key sizes and cost of this circuit; never raises."""
        circuit = self._circuit
        lookups = _table_lookups_by_bit_width(circuit.graph)
        bootstraps = _reported(lambda: int(circuit.programmable_bootstrap_count))
        keyset = json.loads(circuit.client.specs.serialize())["keyset"]
        sized = not keyset.get("packingKeyswitchKeys")
        return CircuitStatistics(
            max_bit_width=int(circuit.graph.maximum_integer_bit_width(is_encrypted_filter=True)),
            table_lookups_by_bit_width=lookups,
            rounding_bootstrap_count=None if bootstraps is None else bootstraps - sum(lookups.values()),
            programmable_bootstrap_count=bootstraps,
            evaluation_key_bytes=key_material_bytes(keyset) if sized else None,
            server_key_bytes=_reported(lambda: _server_key_bytes(circuit)) if sized else None,
            complexity=_reported(lambda: float(circuit.complexity)),
            p_error=_reported(lambda: float(circuit.p_error)),
            global_p_error=_reported(lambda: float(circuit.global_p_error)),
        )

    @property
    def deployment_refusal(self) -> str | None:
        """Why a server could not run this circuit from its description, or None when it can."""
        keyset = json.loads(self._circuit.client.specs.serialize())["keyset"]
        if not keyset.get("packingKeyswitchKeys"):
            return None
        widest = max(_table_lookups_by_bit_width(self._circuit.graph), default=0)
        return (
            f"the circuit's widest table lookup reads {widest} bits, which concrete evaluates with packing "
            "key-switching keys; Veil's server cannot check such keys before use, so it does not load them. "
            "Compile with rounding_threshold_bits (e.g. 6) or fewer n_bits to keep lookups at 8 bits or less"
        )

    def keygen(self, force: bool = False) -> None:
        """Generate the secret and evaluation keys (kept in memory by the circuit)."""
        self._circuit.keygen(force=force)

    def serialized_evaluation_keys(self) -> bytes:
        """The evaluation keys as a client sends them to a server (generated first if needed)."""
        self.keygen()
        return self._circuit.client.evaluation_keys.serialize()

    def simulate(self, q_x: np.ndarray) -> np.ndarray:
        """Run the circuit in concrete's simulator, which models TFHE's lookup failure probability."""
        return self._map_rows(self._circuit.simulate, q_x)

    def encrypt_run_decrypt(self, q_x: np.ndarray) -> np.ndarray:
        """Encrypt each row, evaluate the circuit on ciphertexts, decrypt the result."""
        self.keygen()
        return self._map_rows(self._circuit.encrypt_run_decrypt, q_x)

    def _map_rows(self, run: Callable[[np.ndarray], np.ndarray], q_x: np.ndarray) -> np.ndarray:
        rows_per_call = self.input_shape[0]
        if q_x.ndim != len(self.input_shape) or q_x.shape[1:] != self.input_shape[1:]:
            raise ValueError(
                f"the circuit takes integer inputs of shape (n_rows, "
                f"{', '.join(map(str, self.input_shape[1:]))}), got {q_x.shape}"
            )
        n_rows = q_x.shape[0]
        padding = -n_rows % rows_per_call
        if padding:  # zero rows are valid codes: every encrypted tensor holds non-negative integers
            q_x = np.concatenate([q_x, np.zeros((padding, *q_x.shape[1:]), dtype=q_x.dtype)])
        chunks = [run(q_x[i : i + rows_per_call]) for i in range(0, q_x.shape[0], rows_per_call)]
        return np.concatenate([np.asarray(chunk, dtype=np.int64) for chunk in chunks], axis=0)[:n_rows]


def compile_integer_function(
    function: Callable[[np.ndarray], np.ndarray],
    inputset: Sequence[np.ndarray],
    *,
    p_error: float | None = DEFAULT_P_ERROR,
    global_p_error: float | None = DEFAULT_GLOBAL_P_ERROR,
    show_mlir: bool = False,
    execution: bool = True,
) -> FheCircuit:
    """Trace ``function`` on an encrypted integer input and compile it with 128-bit security.

    Parameters
    ----------
    function : callable
        Integer forward function ``q_x -> q_y`` written with numpy operations. Float sub-expressions
        of one encrypted value are fused by concrete into table lookups.
    inputset : sequence of numpy.ndarray
        Integer inputs, all of the circuit's input shape, used to trace and size the circuit.
    p_error, global_p_error : float or None
        Failure probability of one table lookup, and of the whole circuit. Give one of them.
    show_mlir : bool
        Print the compiled MLIR.
    execution : bool
        Build the encrypted-execution backend; without it the circuit can only be simulated (faster to
        compile, no keys).
    """
    check_error_probability("p_error", p_error)
    check_error_probability("global_p_error", global_p_error)
    inputset = [np.asarray(sample, dtype=np.int64) for sample in inputset]
    if not inputset:
        raise ValueError("the inputset must contain at least one sample, got an empty one")
    shapes = {sample.shape for sample in inputset}
    if len(shapes) != 1:
        raise ValueError(f"every inputset sample must have the same shape, got {sorted(shapes)}")

    def traced(q_x):
        return function(q_x)

    configuration = fhe.Configuration(
        p_error=p_error,
        global_p_error=global_p_error,
        show_mlir=show_mlir,
        show_progress=False,
        dump_artifacts_on_unexpected_failures=False,
        fhe_simulation=True,
        fhe_execution=execution,
        compress_evaluation_keys=COMPRESS_KEYS_AND_INPUTS,
        compress_input_ciphertexts=COMPRESS_KEYS_AND_INPUTS,
    )
    compiler = fhe.Compiler(traced, {"q_x": "encrypted"})
    try:
        circuit = compiler.compile(inputset, configuration)
    except RuntimeError as error:
        if "NoParametersFound" not in str(error):
            raise
        raise ValueError(
            "concrete found no TFHE parameters for this circuit at p_error="
            f"{p_error}, global_p_error={global_p_error}: its integers are too wide for its table lookups "
            "(usually an accumulator far wider than the lookups). Lower n_bits (weights first) or raise "
            "p_error"
        ) from None
    compiled = FheCircuit(circuit, input_shape=shapes.pop(), p_error=p_error, global_p_error=global_p_error)
    if execution:
        _warn_if_keys_are_large(compiled.statistics)
    return compiled


def check_error_probability(name: str, value) -> float | None:
    """``value`` if None or a probability strictly between 0 and 1; else a ValueError naming ``name``."""
    if value is None:
        return None
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or math.isnan(value) or not 0 < value < 1:
        raise ValueError(f"{name} must be None or a probability in the open interval (0, 1), got {value!r}")
    return float(value)


def _warn_if_keys_are_large(statistics: CircuitStatistics) -> None:
    size = statistics.server_key_bytes
    if size is not None and size > LARGE_KEY_BYTES:
        warnings.warn(
            f"the compiled circuit's evaluation keys take {size / 1e9:.2f} GB in the server's memory "
            f"({statistics.max_bit_width}-bit values, p_error={statistics.p_error}): key generation will be "
            "slow. Lower the bit-widths, round accumulators (rounding_threshold_bits) or raise p_error",
            stacklevel=user_stacklevel(),
        )


def _reported(read: Callable[[], float]):
    """What concrete reports, or None when it cannot report it for this circuit."""
    try:
        return read()
    except (RuntimeError, ValueError, AttributeError, KeyError):
        return None


def _server_key_bytes(circuit) -> int:
    return int(circuit.size_of_bootstrap_keys + circuit.size_of_keyswitch_keys)


def _table_lookups_by_bit_width(graph) -> dict[int, int]:
    """Elementwise lookups keyed by the precision they read; rounding nodes are not lookups here."""
    counts: Counter[int] = Counter()
    for node in graph.query_nodes(is_encrypted_filter=True):
        if not node.converted_to_table_lookup or _is_rounding(node):
            continue
        (predecessor, *_) = graph.ordered_preds_of(node)
        dtype = predecessor.output.dtype
        bit_width = dtype.bit_width if isinstance(dtype, Integer) else -1
        if _is_rounding(predecessor):
            # The lookup only sees the bits the rounding kept: concrete's count, which differs from the
            # requested lsbs_to_remove when the value's chain is wider than the value (it removes more).
            kept = predecessor.properties.get("resulting_bit_width")
            bit_width = (
                kept if kept is not None else bit_width - predecessor.properties["kwargs"]["lsbs_to_remove"]
            )
        counts[bit_width] += int(np.prod(node.output.shape, dtype=np.int64))
    return dict(sorted(counts.items()))


def _is_rounding(node) -> bool:
    return node.properties.get("name") == "round_bit_pattern"


def key_material_bytes(keyset: dict) -> int:
    """Bytes of bootstrap and key-switching key material that a keyset with these parameters holds.

    A seed-compressed key stores only the body of each ciphertext; its masks are regrown from a seed.
    """
    total = 0
    for key in keyset["lweBootstrapKeys"]:
        p = key["params"]
        masks = 1 if key.get("compression") == "seed" else p["glweDimension"] + 1
        total += (
            (p["glweDimension"] + 1) * masks * p["levelCount"] * p["polynomialSize"] * p["inputLweDimension"]
        )
    for key in keyset["lweKeyswitchKeys"]:
        p = key["params"]
        masks = 0 if key.get("compression") == "seed" else p["outputLweDimension"]
        total += p["levelCount"] * p["inputLweDimension"] * (masks + 1)
    if keyset.get("packingKeyswitchKeys"):
        raise ValueError("circuits with packing key-switching keys are not supported by Veil")
    return total * 8  # 64-bit torus elements
