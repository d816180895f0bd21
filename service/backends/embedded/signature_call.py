"""Calling a loaded SavedModel signature once per batch with the least Python overhead.

Called the public way (``fn(image=tensor)``), a restored ``ConcreteFunction`` binds keyword
arguments against its FunctionType, flattens them, checks for gradient tapes, then packs the flat
outputs back into a dict. On small models that bookkeeping costs about as much as the model itself.
The fast path precomputes everything that does not change between calls (the function's name in
the eager context, its captured variable handles, which flat output is ``probabilities``) and asks
the eager context to run the function with one input tensor per batch.

The fast path uses TensorFlow internals, so it is only used after it answered exactly like the
public path on a real batch (``verify``); otherwise, or when those internals are missing in another
TF release, the public path is used. ``bench.py`` measures both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from service.errors import InternalError, InvalidInput, Overloaded

log = logging.getLogger(__name__)

BatchFunction = Callable[[np.ndarray], np.ndarray]


class SignatureCall:
    """Runs one signature (one input tensor, one named output) on numpy batches; thread-safe."""

    def __init__(self, function: Any, input_name: str, output_name: str) -> None:
        self._function = function
        self._input_name = input_name
        self._output_name = output_name
        self._fast = _fast_path(function, output_name)
        self._call: BatchFunction = self.public

    @property
    def path(self) -> str:
        """Which call path is in use: 'fast' or 'public'."""
        return "fast" if self._call is not self.public else "public"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The output for ``batch``; TensorFlow errors become the gateway's errors."""
        try:
            return self._call(batch)
        except tf.errors.ResourceExhaustedError as exc:
            raise Overloaded("the model ran out of memory on this batch; retry with fewer inputs") from exc
        except tf.errors.InvalidArgumentError as exc:
            # Values the spec's dtype and shape cannot rule out (an index past the vocabulary, say).
            raise InvalidInput(f"the model refused the input: {_first_line(exc.message)}") from exc
        except tf.errors.OpError as exc:
            log.error("model call failed", exc_info=exc)
            raise InternalError("the model call failed") from exc

    def public(self, batch: np.ndarray) -> np.ndarray:
        """The documented way: call the concrete function with a keyword argument."""
        outputs = self._function(**{self._input_name: tf.constant(batch)})
        return outputs[self._output_name].numpy()  # type: ignore[no-any-return]

    def fast(self, batch: np.ndarray) -> np.ndarray:
        """The fast path, whether or not it is in use; raises RuntimeError where TF lacks it."""
        if self._fast is None:
            raise RuntimeError("this TensorFlow release offers no fast call path")
        return self._fast(batch)

    def verify(self, batch: np.ndarray) -> str:
        """Use the fast path if it answers ``batch`` exactly like the public path; returns the path used."""
        if self._fast is None:
            return self.path
        expected = self.public(batch)
        try:
            got = self._fast(batch)
        except Exception:  # any failure of TF internals means: not usable here
            log.warning("fast signature call failed; using the public call path", exc_info=True)
            return self.path
        if got.shape == expected.shape and got.dtype == expected.dtype and np.array_equal(got, expected):
            self._call = self._fast
        else:
            log.warning("fast signature call disagrees with the public one; using the public call path")
        return self.path


def _fast_path(function: Any, output_name: str) -> BatchFunction | None:
    """A closure running ``function`` through the eager context, or None if TF lacks the internals."""
    try:
        from tensorflow.python.eager import context

        atomic = function._inference_function
        name: bytes = atomic.name
        n_outputs = len(atomic.function_type.flat_outputs)
        captures = list(function.captured_inputs)
        # Flat outputs follow tf.nest order, which sorts dict keys.
        output_keys = sorted(function.structured_outputs)
        index = output_keys.index(output_name)
        eager = context.context()
        _, kwargs = function.structured_input_signature
        if len(kwargs) != 1 or n_outputs != len(output_keys):
            return None
    except (AttributeError, ImportError, TypeError, ValueError):
        log.info("no fast signature call path in this TensorFlow release", exc_info=True)
        return None

    def call(batch: np.ndarray) -> np.ndarray:
        outputs = eager.call_function(name, [tf.constant(batch), *captures], n_outputs)
        return outputs[index].numpy()  # type: ignore[no-any-return]

    return call


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"
