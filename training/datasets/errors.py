"""Errors raised while building the demo datasets.

DatasetError            a demo dataset cannot be built
├── SourceUnavailable   a source (npm, espeak-ng, scikit-learn) is missing or failed to run
└── SourceMismatch      a fetched source differs from the pinned one
"""


class DatasetError(RuntimeError):
    """A demo dataset cannot be built."""


class SourceUnavailable(DatasetError):
    """A tool or package that a dataset is built from is missing or failed."""


class SourceMismatch(DatasetError):
    """A fetched source does not match its pinned checksum."""
