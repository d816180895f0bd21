"""``python -m service.predlog export --since T --until T --out DIR``."""

from service.predlog.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
