"""Errors raised while turning raw inputs into features.

    FeatureError            the input cannot become a model input
    ├── UndecodableInput    bytes that are not a readable image or WAV file, or empty text
    └── InputTooLarge       an input past a limit (pixels, seconds, characters)

Callers (the gateway) map these to their own error types; they never carry tracebacks to clients.
"""


class FeatureError(ValueError):
    """The input cannot be turned into a model input."""


class UndecodableInput(FeatureError):
    """The bytes are not a readable image or audio file, or the text is unusable."""


class InputTooLarge(FeatureError):
    """The input exceeds a configured limit."""
