"""The classify core: the one pipeline every surface calls."""
