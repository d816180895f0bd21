"""``python -m service``: the gateway, configured from the environment (``CLASSIFIER_*``)."""

from service.gateway import main

if __name__ == "__main__":
    raise SystemExit(main())
