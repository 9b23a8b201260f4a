"""``python -m ganbench.cli``: the ``ganbench`` command."""

from ganbench.cli import main

if __name__ == "__main__":
    main()
