"""Generated messages and stubs of ``proto/classifier/v1/classifier.proto``; regenerate with ``make proto``."""
