"""NumPy arrays to and from ``TensorProto``, for this package's messages and TensorFlow's alike.

Both message classes have the same field names, so one converter serves the TF Serving client (our
wire messages) and the local model server (the official ones). Numbers travel as raw little-endian
``tensor_content`` bytes, the fast path; strings as ``string_val``. Decoding also accepts the typed
repeated fields (``float_val``, ``int_val`` ...) that other clients send, with TensorFlow's rule that a
short list repeats its last value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.errors import InvalidInput
from service.tfserving_wire import tensor_pb2

#: TensorFlow DataType number -> little-endian NumPy dtype, for the numeric types both sides use.
_NUMPY_OF: dict[int, np.dtype[Any]] = {
    tensor_pb2.DT_FLOAT: np.dtype("<f4"),
    tensor_pb2.DT_DOUBLE: np.dtype("<f8"),
    tensor_pb2.DT_INT32: np.dtype("<i4"),
    tensor_pb2.DT_UINT8: np.dtype("u1"),
    tensor_pb2.DT_INT16: np.dtype("<i2"),
    tensor_pb2.DT_INT8: np.dtype("i1"),
    tensor_pb2.DT_INT64: np.dtype("<i8"),
    tensor_pb2.DT_BOOL: np.dtype("?"),
    tensor_pb2.DT_UINT16: np.dtype("<u2"),
    tensor_pb2.DT_UINT32: np.dtype("<u4"),
    tensor_pb2.DT_UINT64: np.dtype("<u8"),
}
_DATATYPE_OF: dict[str, int] = {dtype.newbyteorder("=").str: number for number, dtype in _NUMPY_OF.items()}
#: Where a DataType's values go when they are not in ``tensor_content`` (tensorflow/core/framework/tensor.proto).
_VALUE_FIELD: dict[int, str] = {
    tensor_pb2.DT_FLOAT: "float_val",
    tensor_pb2.DT_DOUBLE: "double_val",
    tensor_pb2.DT_INT32: "int_val",
    tensor_pb2.DT_UINT8: "int_val",
    tensor_pb2.DT_INT16: "int_val",
    tensor_pb2.DT_INT8: "int_val",
    tensor_pb2.DT_UINT16: "int_val",
    tensor_pb2.DT_INT64: "int64_val",
    tensor_pb2.DT_BOOL: "bool_val",
    tensor_pb2.DT_UINT32: "uint32_val",
    tensor_pb2.DT_UINT64: "uint64_val",
}


def dtype_name(number: int) -> str:
    """TensorFlow's name of a DataType number (``DT_FLOAT``), for messages."""
    try:
        return str(tensor_pb2.DataType.Name(number))
    except ValueError:
        return f"DataType({number})"


def datatype_of(dtype: np.dtype[Any] | str) -> int:
    """The TensorFlow DataType number of a numeric NumPy dtype; raises InvalidInput for others."""
    try:
        return _DATATYPE_OF[np.dtype(dtype).newbyteorder("=").str]
    except KeyError:
        raise InvalidInput(f"no TensorFlow type for NumPy dtype {np.dtype(dtype)}") from None


def fill_tensor(tensor: tensor_pb2.TensorProto, array: np.ndarray) -> None:
    """Write ``array`` into an empty ``tensor`` (ours or TensorFlow's): numbers as raw bytes, text as string_val."""
    del tensor.tensor_shape.dim[:]
    for size in array.shape:
        tensor.tensor_shape.dim.add().size = size
    if array.dtype.kind in "SOU":
        tensor.dtype = tensor_pb2.DT_STRING
        tensor.string_val.extend(v.encode() if isinstance(v, str) else bytes(v) for v in array.reshape(-1).tolist())
        return
    number = datatype_of(array.dtype)
    tensor.dtype = number  # type: ignore[assignment]
    tensor.tensor_content = np.ascontiguousarray(array, dtype=_NUMPY_OF[number]).tobytes()


def tensor_to_array(tensor: tensor_pb2.TensorProto) -> np.ndarray:
    """The array a ``TensorProto`` (ours or TensorFlow's) holds; raises InvalidInput if it is malformed."""
    if tensor.tensor_shape.unknown_rank:
        raise InvalidInput("a tensor of unknown rank")
    shape = tuple(dim.size for dim in tensor.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise InvalidInput(f"a tensor of partly unknown shape {list(shape)}")
    count = int(np.prod(shape, dtype=np.int64))
    if tensor.dtype == tensor_pb2.DT_STRING:
        return _repeat_last(list(tensor.string_val), count, shape, object, "string_val")
    dtype = _NUMPY_OF.get(tensor.dtype)
    if dtype is None:
        raise InvalidInput(f"tensors of type {dtype_name(tensor.dtype)} are not supported")
    if tensor.tensor_content:
        content = tensor.tensor_content
        if len(content) != count * dtype.itemsize:
            raise InvalidInput(
                f"tensor_content holds {len(content)} bytes; shape {list(shape)} of {dtype_name(tensor.dtype)}"
                f" needs {count * dtype.itemsize}"
            )
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    values = getattr(tensor, _VALUE_FIELD[tensor.dtype])
    return _repeat_last(list(values), count, shape, dtype, _VALUE_FIELD[tensor.dtype])


def _repeat_last(values: list[Any], count: int, shape: tuple[int, ...], dtype: Any, field: str) -> np.ndarray:
    # TensorFlow fills a tensor whose value list is shorter than its size with the last value.
    if len(values) > count or (not values and count):
        raise InvalidInput(f"{field} holds {len(values)} values; shape {list(shape)} needs {count}")
    if len(values) < count:
        values = values + [values[-1]] * (count - len(values))
    array = np.empty(count, dtype=dtype)
    array[:] = values
    return array.reshape(shape)
