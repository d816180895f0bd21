"""Load tests and the benchmark of the classifier gateway.

``locustfile`` drives REST and gRPC with real demo samples; ``run`` (``make loadtest``) starts the stack
on loopback, runs locust headless for a bounded time and checks ``thresholds.toml``; ``bench``
(``make bench``) compares the gateway with a parse-only ceiling, a naive in-process baseline and the
TF Serving topology under the same closed-loop load.
"""
