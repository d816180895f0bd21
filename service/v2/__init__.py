"""The Open Inference Protocol (KServe "V2") over REST and gRPC: a thin surface over the same classify core.

``types`` holds the transport-neutral request and answer, ``tensors`` the V2 tensor encodings, ``dataplane``
the calls into ``service.core.classifier.Classifier``; ``rest`` and ``grpc_servicer`` only translate.
"""
