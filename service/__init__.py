"""The gateway: one classify core behind REST and gRPC surfaces, over a model backend."""
