"""Generated Open Inference Protocol (V2) gRPC messages and stubs (``make proto``), in a private descriptor pool."""
