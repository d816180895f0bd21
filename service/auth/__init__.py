"""Access control: API keys with scopes and rate limits (``access``), the keys file and its CLI, and the
REST middleware and gRPC interceptor that apply one rule to both surfaces."""
