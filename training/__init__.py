"""Training: demo datasets, Keras classifiers, evaluation, and export of self-describing model versions.

``python -m training`` is the command line; ``training.export.export_version`` writes one
``models/NAME/VERSION/`` SavedModel following the contract in ARCHITECTURE.md, and
``training.testing.build_tiny_models`` builds small real versions for other test suites.
"""
