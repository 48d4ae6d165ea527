"""``python -m hgloc``: the hgloc command line."""

from hgloc.cli import main

if __name__ == "__main__":
    main()
