"""The gRPC surface: ``classifier.v1.Classifier`` over the classify core, with health and reflection.

``server`` builds it, ``servicer`` is the thin service, ``converters`` map messages to the core's types,
``errors`` maps the error hierarchy to status codes in one place, ``health`` follows readiness. The
messages come from the client package (``classifier_client.v1``), the one copy of the generated code.
"""

from service.grpc.server import GrpcSurface, create_grpc_server

__all__ = ["GrpcSurface", "create_grpc_server"]
