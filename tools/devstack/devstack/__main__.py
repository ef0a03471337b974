"""`python -m devstack [--var-dir DIR] [--no-services]`"""

import argparse
import os
import sys
from pathlib import Path

from devstack import signals
from devstack.runner import Options, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack",
        description="Run NATS, PostgreSQL, the mail/SMS sinks and the four services locally.",
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=Path(os.environ.get("DEVSTACK_VAR_DIR", "var")),
        help="where data, logs and the outbox live (default: $DEVSTACK_VAR_DIR or ./var)",
    )
    parser.add_argument(
        "--no-services",
        action="store_true",
        help="start only NATS, PostgreSQL and the sinks, and print the environment to use",
    )
    args = parser.parse_args(argv)
    # Installed before anything starts, so Ctrl-C at any moment still cleans up.
    signals.raise_on_stop_signals()
    return run(Options(var_dir=args.var_dir, start_services=not args.no_services), os.environ)


if __name__ == "__main__":
    sys.exit(main())
