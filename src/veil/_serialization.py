"""Veil's file format: JSON plus raw numeric arrays, in one checksummed container. No pickle anywhere.

Layout of a ``.veil`` file (all integers little-endian)::

    magic        8 bytes   b"VEIL\\x00FMT"
    header_size  8 bytes   uint64
    header       JSON, UTF-8: {"format": 1, "veil_version": "...", "kind": "...",
                               "arrays": [{"dtype": "<i8", "shape": [...], "offset": 0, "nbytes": 8}, ...],
                               "content": <tree>}
    payload      the arrays' raw bytes, back to back
    sha256       32 bytes, over everything above

``content`` is a JSON tree where a few tagged objects stand for what JSON lacks: ``{"__array__": i}``
(the i-th array), ``{"__tuple__": [...]}``, ``{"__dict__": [[key, value], ...]}`` (non-string keys),
``{"__float__": "nan"}`` and ``{"__object__": "veil.TensorInfo", "fields": {...}}``. An object is rebuilt
only if its type is in :data:`FILE_TYPES`, the explicit inventory of what a file may hold (reading a file
imports that type's Veil module, so ``import veil; veil.load(path)`` works in a fresh interpreter), and
arrays only of plain numeric, boolean or string dtypes: a file never chooses code to run.

A file is readable by every Veil that writes the same ``format``; a new Veil that changes what a file
holds raises ``FORMAT_VERSION`` and says so when it meets an older file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import struct
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError

MAGIC = b"VEIL\x00FMT"
FORMAT_VERSION = 1
_CHECKSUM_BYTES = 32
_ALLOWED_DTYPE_KINDS = frozenset("biufU")  # bool, ints, unsigned ints, floats, unicode strings

#: Every type a Veil file may hold, by the name files use for it, and the Veil module that defines it.
FILE_TYPES: dict[str, str] = {
    "veil.OnnxNode": "veil.onnx._numpy_module",
    "veil.KeptPositions": "veil.quantization._idle_neurons",
    "veil.UniformQuantizer": "veil.quantization._quantizers",
    "veil.RoundingPolicy": "veil.quantization._bits",
    "veil.TensorInfo": "veil.quantization._integer_graph",
    "veil.Requantization": "veil.quantization._integer_graph",
    "veil.LinearNode": "veil.quantization._integer_graph",
    "veil.LookupNode": "veil.quantization._integer_graph",
    "veil.ProductNode": "veil.quantization._integer_graph",
    "veil.IntegerGraph": "veil.quantization._integer_graph",
    "veil.InputEncoder": "veil.quantization._inputs",
    "veil.JointInputEncoder": "veil.quantization._inputs",
    "veil.OutputDecoder": "veil.quantization._module",
    "veil.FloatStep": "veil.quantization._steps",
    "veil.CombineStep": "veil.quantization._steps",
    "veil.ClassReference": "veil.sklearn._files",
}
_REGISTRY: dict[str, type] = {}


def veil_version() -> str:
    """The installed Veil's version, written into every file."""
    try:
        return version("veil")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def serializable(cls: type) -> type:
    """Class decorator: mark the dataclass ``cls``, which :data:`FILE_TYPES` must list, as file content."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"only dataclasses can be registered, got {cls!r}")
    name = _type_name(cls)
    if FILE_TYPES.get(name) != cls.__module__:
        raise TypeError(f"{name} ({cls.__module__}) is not in veil._serialization.FILE_TYPES; add it there")
    if _REGISTRY.setdefault(name, cls) is not cls:
        raise TypeError(f"two serializable classes share the name {name!r}")
    return cls


def _type_name(cls: type) -> str:
    return f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"


# -- tree encoding ---------------------------------------------------------------------------------------
def encode(obj: Any, arrays: list[np.ndarray]) -> Any:
    """Encode ``obj`` as a JSON-ready tree, appending its arrays to ``arrays``."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | np.integer) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        arrays.append(_checked_array(obj))
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(item, arrays) for item in obj]}
    if isinstance(obj, list):
        return [encode(item, arrays) for item in obj]
    if isinstance(obj, dict):
        if all(isinstance(key, str) and not key.startswith("__") for key in obj):
            return {key: encode(value, arrays) for key, value in obj.items()}
        return {"__dict__": [[encode(key, arrays), encode(value, arrays)] for key, value in obj.items()]}
    if dataclasses.is_dataclass(obj) and _REGISTRY.get(_type_name(type(obj))) is type(obj):
        fields = {f.name: encode(getattr(obj, f.name), arrays) for f in dataclasses.fields(obj)}
        return {"__object__": _type_name(type(obj)), "fields": fields}
    raise TypeError(
        f"cannot write a {type(obj).__module__}.{type(obj).__qualname__} into a Veil file: only numbers, "
        "strings, lists, dicts, numpy arrays and Veil's registered data classes are allowed"
    )


def decode(tree: Any, arrays: list[np.ndarray]) -> Any:
    """Rebuild the object that :func:`encode` turned into ``tree``."""
    if isinstance(tree, list):
        return [decode(item, arrays) for item in tree]
    if not isinstance(tree, dict):
        return tree
    if "__array__" in tree:
        return arrays[_index(tree["__array__"], len(arrays))]
    if "__tuple__" in tree:
        return tuple(decode(item, arrays) for item in tree["__tuple__"])
    if "__dict__" in tree:
        return {_hashable(decode(key, arrays)): decode(value, arrays) for key, value in tree["__dict__"]}
    if "__float__" in tree:
        if tree["__float__"] not in ("nan", "inf", "-inf"):
            raise ModelFileError(f"invalid float {tree['__float__']!r} in the file")
        return float(tree["__float__"])
    if "__object__" in tree:
        cls = _file_type(tree["__object__"])
        if cls is None:
            raise ModelFileError(f"the file holds an object of unknown type {tree['__object__']!r}")
        fields = {name: decode(value, arrays) for name, value in tree["fields"].items()}
        try:
            return cls(**fields)
        except TypeError as error:
            message = f"the file's {tree['__object__']} does not match this Veil: {error}"
            raise ModelFileError(message) from None
    return {key: decode(value, arrays) for key, value in tree.items()}


def _file_type(name) -> type | None:
    """The class a file names, imported from its module in :data:`FILE_TYPES` (None if not listed)."""
    if not isinstance(name, str) or name not in FILE_TYPES:
        return None
    if name not in _REGISTRY:
        importlib.import_module(FILE_TYPES[name])  # its @serializable classes register as they are defined
    return _REGISTRY.get(name)


def _index(value, size: int) -> int:
    if not isinstance(value, int) or not 0 <= value < size:
        raise ModelFileError(f"the file refers to array {value!r}, but holds {size} arrays")
    return value


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _checked_array(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in _ALLOWED_DTYPE_KINDS:
        raise TypeError(f"cannot write a numpy array of dtype {array.dtype} into a Veil file")
    return np.ascontiguousarray(array).reshape(array.shape)  # ascontiguousarray makes 0-d arrays 1-d


# -- container -------------------------------------------------------------------------------------------
def to_bytes(kind: str, content: Any) -> bytes:
    """Encode ``content`` into a Veil container of the given ``kind``."""
    arrays: list[np.ndarray] = []
    tree = encode(content, arrays)
    descriptors, offset = [], 0
    for array in arrays:
        descriptors.append(
            {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset, "nbytes": array.nbytes}
        )
        offset += array.nbytes
    header = json.dumps(
        {
            "format": FORMAT_VERSION,
            "veil_version": veil_version(),
            "kind": kind,
            "arrays": descriptors,
            "content": tree,
        },
        allow_nan=False,
    ).encode("utf-8")
    body = b"".join([MAGIC, struct.pack("<Q", len(header)), header, *(a.tobytes() for a in arrays)])
    return body + hashlib.sha256(body).digest()


def from_bytes(data: bytes, kind: str | tuple[str, ...], source: str = "the data") -> tuple[str, Any]:
    """Check and decode a Veil container; return its kind and content.

    Raises
    ------
    ModelFileError
        ``data`` is not a Veil container, is truncated or altered, is in a file format this Veil does
        not read, or holds another kind of object than ``kind``.
    """
    data = bytes(data)
    kinds = (kind,) if isinstance(kind, str) else kind
    if not data.startswith(MAGIC):
        raise ModelFileError(f"{source} is not a Veil file (it does not start with Veil's magic bytes)")
    if len(data) < len(MAGIC) + 8 + _CHECKSUM_BYTES:
        raise ModelFileError(f"{source} is truncated ({len(data)} bytes)")
    body, checksum = data[:-_CHECKSUM_BYTES], data[-_CHECKSUM_BYTES:]
    if hashlib.sha256(body).digest() != checksum:
        raise ModelFileError(f"{source} is truncated or was altered: its SHA-256 checksum does not match")
    (header_size,) = struct.unpack("<Q", body[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8
    try:
        header = json.loads(body[start : start + header_size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{source} has a corrupt header: {error}") from None
    _check_header(header, kinds, source)
    payload = memoryview(body)[start + header_size :]
    arrays = [_read_array(descriptor, payload) for descriptor in header["arrays"]]
    return header["kind"], decode(header["content"], arrays)


def _check_header(header, kinds: tuple[str, ...], source: str) -> None:
    required = {"format", "veil_version", "kind", "arrays", "content"}
    if not isinstance(header, dict) or not required <= set(header):
        raise ModelFileError(f"{source} has an incomplete header")
    if header["format"] != FORMAT_VERSION:
        raise ModelFileError(
            f"{source} was written by Veil {header['veil_version']} in file format {header['format']}; "
            f"this is Veil {veil_version()}, which reads format {FORMAT_VERSION}. Load it with a Veil that "
            "reads its format, or save the model again with this one"
        )
    if header["kind"] not in kinds:
        raise ModelFileError(f"{source} holds a {header['kind']!r}, expected {' or '.join(map(repr, kinds))}")


def _read_array(descriptor, payload: memoryview) -> np.ndarray:
    try:
        dtype = np.dtype(descriptor["dtype"])
        shape = tuple(int(n) for n in descriptor["shape"])
        offset, nbytes = int(descriptor["offset"]), int(descriptor["nbytes"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"invalid array descriptor {descriptor!r}: {error}") from None
    if dtype.kind not in _ALLOWED_DTYPE_KINDS:
        raise ModelFileError(f"the file holds an array of dtype {dtype}, which Veil files never contain")
    if min(shape, default=0) < 0 or nbytes != math.prod(shape) * dtype.itemsize or offset < 0:
        raise ModelFileError(f"array descriptor {descriptor!r} is inconsistent")
    if offset + nbytes > len(payload):
        raise ModelFileError(f"array descriptor {descriptor!r} points past the end of the file")
    return np.frombuffer(payload[offset : offset + nbytes], dtype=dtype).reshape(shape).copy()


def write_file(file, kind: str, content: Any) -> None:
    """Write ``content`` to ``file`` (a path or a binary file object) as a Veil container."""
    data = to_bytes(kind, content)
    if hasattr(file, "write"):
        file.write(data)
    else:
        Path(file).write_bytes(data)


def read_file(file, kind: str | tuple[str, ...]) -> tuple[str, Any]:
    """Read a Veil container from ``file`` (a path or a binary file object)."""
    if hasattr(file, "read"):
        return from_bytes(file.read(), kind, source=f"file {getattr(file, 'name', '<stream>')!r}")
    return from_bytes(Path(file).read_bytes(), kind, source=f"file {str(file)!r}")
