"""``python -m service.keys``: manage the gateway's API keys file (see ``service.auth.cli``)."""

from service.auth.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
