"""`counselctl` / `python -m opsctl`."""


def main() -> None:
    from opsctl.cli import app

    app()


if __name__ == "__main__":
    main()
