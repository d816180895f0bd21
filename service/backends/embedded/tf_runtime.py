"""Process-wide TensorFlow set-up for the embedded runtime: devices, GPU memory growth, thread pools.

TensorFlow takes these settings only before its runtime starts, so the first embedded backend of a
process sets them and later ones (or a process that trained a model first) keep what is there.
"""

from __future__ import annotations

import logging
import os
import threading

import tensorflow as tf

log = logging.getLogger(__name__)

_lock = threading.Lock()
_device: str | None = None


def configure_tensorflow(inference_threads: int) -> str:
    """Set up TensorFlow once per process; returns the device that runs models, e.g. 'GPU:0' or 'CPU'.

    ``inference_threads`` model calls run at once, so each gets an equal share of the cores for its
    kernels (intra-op) and the inter-op pool has a thread per concurrent call: on a 2-core machine
    two calls with one core each, instead of two calls fighting over two cores each.
    """
    global _device
    with _lock:
        if _device is not None:
            return _device
        cores = os.cpu_count() or 1
        intra = max(1, cores // inference_threads)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inference_threads)
        except RuntimeError:
            log.info("TensorFlow was already running; keeping its thread pools")
        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            try:
                # Without growth TF takes the whole card at start; growth leaves room for other versions.
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                log.info("TensorFlow was already running; keeping its GPU memory settings")
        _device = "GPU:0" if gpus else "CPU"
        log.info(
            "embedded models run on %s (%d GPUs, %d cores, %d intra-op threads per call, %d calls at once)",
            _device,
            len(gpus),
            cores,
            tf.config.threading.get_intra_op_parallelism_threads() or cores,
            inference_threads,
        )
        return _device
