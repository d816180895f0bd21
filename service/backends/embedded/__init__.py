"""The embedded model runtime: SavedModel versions loaded in this process, served with dynamic batching.

repository.py       which version folders exist and which the version policy serves
loaded_version.py   load, check against the spec contract, and warm one version
signature_call.py   the fastest way to call a loaded signature, verified against the public one
batcher.py          per-version micro-batching on the event loop, model calls in threads
inputs.py           per-request input checks before rows join a batch
tf_runtime.py       process-wide TensorFlow set-up (devices, threads)
backend.py          ``EmbeddedBackend``: the life cycle of versions, the ``ModelBackend`` API
bench.py            micro benchmark of the call paths (``python -m service.backends.embedded.bench``)
"""

from service.backends.embedded.backend import EmbeddedBackend

__all__ = ["EmbeddedBackend"]
