"""Model backends: where the model runs. One interface (``base.ModelBackend``), two implementations:
the embedded TensorFlow runtime and a TensorFlow Serving client."""
