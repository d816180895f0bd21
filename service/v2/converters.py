"""Conversions between the V2 gRPC messages (``service.v2.wire``) and ``service.v2.types``.

``InferRequestConverter.to_types`` checks what the REST decoding checks (one BYTES input of shape [N], the
elements in ``bytes_contents`` or ``raw_input_contents``, known parameters), so both surfaces refuse the
same requests with the same code. Outputs go back in ``raw_output_contents``, as Triton answers.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.errors import InvalidInput
from service.v2.dataplane import ModelMetadata
from service.v2.tensors import fp32_bytes, join_bytes_elements, split_bytes_elements
from service.v2.types import (
    OUTPUT_NAME,
    InferRequest,
    InferResult,
    ParameterValue,
    check_input_header,
    check_outputs,
    parse_version,
    request_options,
    requested_output,
)
from service.v2.wire import grpc_service_pb2 as pb


def parameters_of(parameters: Mapping[str, pb.InferParameter]) -> dict[str, ParameterValue]:
    """A protobuf parameter map -> plain values (an unset choice is refused)."""
    values: dict[str, ParameterValue] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        if choice is None:
            raise InvalidInput(f"parameter '{key}' has no value")
        values[key] = getattr(parameter, choice)
    return values


class InferRequestConverter:
    """``ModelInferRequest`` -> ``InferRequest``."""

    @staticmethod
    def to_types(message: pb.ModelInferRequest, *, timeout_s: float | None) -> InferRequest:
        """The decoded request; ``timeout_s`` is what is left of the caller's deadline (None: none set)."""
        if not message.model_name:
            raise InvalidInput("'model_name' is required")
        _, parameter_timeout = request_options(parameters_of(message.parameters))
        if len(message.inputs) != 1:
            raise InvalidInput(f"the model takes exactly one input; the request has {len(message.inputs)}")
        tensor = message.inputs[0]
        if tensor.parameters:
            raise InvalidInput(f"unknown parameter(s) on input '{tensor.name}': {', '.join(sorted(tensor.parameters))}")
        shape = list(tensor.shape)
        if message.raw_input_contents:
            if len(message.raw_input_contents) != 1 or tensor.HasField("contents"):
                raise InvalidInput("raw_input_contents holds one entry per input, and then no input has contents")
            count = check_input_header(tensor.name, tensor.datatype, shape, None)
            where = f"input '{tensor.name}'"
            inputs: list[bytes | str] = list(split_bytes_elements(message.raw_input_contents[0], count, where=where))
        else:
            elements = tensor.contents.bytes_contents
            check_input_header(tensor.name, tensor.datatype, shape, len(elements))
            inputs = list(elements)
        outputs = [requested_output(o.name, parameters_of(o.parameters), binary_default=True) for o in message.outputs]
        check_outputs(outputs)
        if not outputs:
            outputs = [requested_output(OUTPUT_NAME, {}, binary_default=True)]
        timeouts = [t for t in (timeout_s, parameter_timeout) if t is not None]
        return InferRequest(
            model=message.model_name,
            version=parse_version(message.model_version),
            inputs=inputs,
            outputs=outputs,
            id=message.id,
            timeout_s=min(timeouts) if timeouts else None,
        )


class InferResultConverter:
    """``InferResult`` -> ``ModelInferResponse``, outputs in ``raw_output_contents``."""

    @staticmethod
    def from_types(result: InferResult) -> pb.ModelInferResponse:
        """The response message."""
        response = pb.ModelInferResponse(model_name=result.model, model_version=str(result.version), id=result.id)
        for output in result.outputs:
            response.outputs.add(name=output.name, datatype=output.datatype, shape=output.shape)
            raw = join_bytes_elements(output.data) if isinstance(output.data, list) else fp32_bytes(output.data)
            response.raw_output_contents.append(raw)
        return response


class ModelMetadataConverter:
    """``ModelMetadata`` -> ``ModelMetadataResponse`` (the spec's message has no place for the labels)."""

    @staticmethod
    def from_types(meta: ModelMetadata) -> pb.ModelMetadataResponse:
        """The response message."""
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta.name,
            versions=meta.versions,
            platform=meta.platform,
            inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.inputs],
            outputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.outputs],
        )
