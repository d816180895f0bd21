"""V2 requests and answers as both surfaces see them after decoding, and the parameter rules they share.

The model's tensors: one input ``input`` (``BYTES``, shape ``[N]``: raw image or WAV bytes, or texts) and
one output ``probabilities`` (``FP32``, ``[N, C]``, labels in the order of the model metadata). With the
classification extension (``{"classification": k}`` on the requested output) that output is instead
``BYTES`` ``[N, k]`` of Triton's ``"score:index:label"`` strings, best first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from service.core.schemas import RawInput
from service.errors import InvalidInput

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
#: What a V2 parameter value can be (JSON scalars; gRPC's InferParameter choices).
ParameterValue = bool | int | float | str

# Request-level parameters: Triton's output switch and its timeout (microseconds, as tritonclient sends it).
_REQUEST_PARAMETERS = frozenset({"binary_data_output", "timeout"})
_OUTPUT_PARAMETERS = frozenset({"binary_data", "classification"})


@dataclass(frozen=True)
class RequestedOutput:
    """An output the caller asked for: ``classification`` is k of the extension, ``binary`` its REST encoding."""

    name: str
    classification: int | None = None
    binary: bool = False


@dataclass
class InferRequest:
    """A V2 inference request after transport decoding."""

    model: str
    version: int | None
    inputs: list[RawInput]
    outputs: list[RequestedOutput]
    id: str = ""
    timeout_s: float | None = None


@dataclass
class OutputTensor:
    """One output: FP32 ``data`` as an ``[N, C]`` array, or BYTES ``data`` as a flat list of elements."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray | list[bytes]
    binary: bool = False


@dataclass
class InferResult:
    """The answer: the version that produced it and the requested outputs, in request order."""

    model: str
    version: int
    id: str
    outputs: list[OutputTensor] = field(default_factory=list)


def parse_version(text: str) -> int | None:
    """A V2 version string ("" for none) -> our integer version."""
    if text == "":
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"model version '{text}' is not a positive integer")
    return int(text)


def request_options(parameters: Mapping[str, ParameterValue]) -> tuple[bool, float | None]:
    """Request-level parameters -> (all outputs binary, timeout in seconds or None); unknown ones are refused."""
    _refuse_unknown(parameters, _REQUEST_PARAMETERS, "the request")
    binary = parameters.get("binary_data_output", False)
    if not isinstance(binary, bool):
        raise InvalidInput("parameter 'binary_data_output' must be a boolean")
    timeout = parameters.get("timeout")
    if timeout is None:
        return binary, None
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise InvalidInput("parameter 'timeout' must be a positive integer (microseconds)")
    return binary, timeout / 1e6


def requested_output(name: str, parameters: Mapping[str, ParameterValue], *, binary_default: bool) -> RequestedOutput:
    """One requested output with its parameters checked."""
    if name != OUTPUT_NAME:
        raise InvalidInput(f"unknown output '{name}'; the model's output is '{OUTPUT_NAME}'")
    _refuse_unknown(parameters, _OUTPUT_PARAMETERS, f"output '{name}'")
    binary = parameters.get("binary_data", binary_default)
    if not isinstance(binary, bool):
        raise InvalidInput("parameter 'binary_data' must be a boolean")
    k = parameters.get("classification")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 0):
        raise InvalidInput("parameter 'classification' must be a non-negative integer")
    # Triton treats a class count of 0 as "no classification".
    return RequestedOutput(name=name, classification=k or None, binary=binary)


def check_outputs(outputs: list[RequestedOutput]) -> None:
    """Each output at most once."""
    if len({o.name for o in outputs}) != len(outputs):
        raise InvalidInput("an output is requested more than once")


def check_input_header(name: str, datatype: str, shape: list[int], elements: int | None) -> int:
    """The one input's name, datatype and shape ``[N]``; returns N. ``elements``: how many the data holds."""
    if name != INPUT_NAME:
        raise InvalidInput(f"unknown input '{name}'; the model's one input is '{INPUT_NAME}' (BYTES, shape [N])")
    if datatype != "BYTES":
        raise InvalidInput(f"input '{name}' has datatype {datatype}; the model takes BYTES")
    if len(shape) != 1 or shape[0] < 1:
        raise InvalidInput(f"input '{name}' has shape {shape}; the model takes [N] with N >= 1")
    if elements is not None and elements != shape[0]:
        raise InvalidInput(f"input '{name}' has shape {shape} but {elements} elements")
    return shape[0]


def _refuse_unknown(parameters: Mapping[str, ParameterValue], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise InvalidInput(f"unknown parameter(s) on {where}: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
