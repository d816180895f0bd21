"""``python -m service.rollout status|start|promote|rollback NAME``."""

from service.rollout.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
