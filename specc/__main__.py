"""``python -m specc``: the ``specc`` command line."""

from specc.compiler.cli import main

if __name__ == "__main__":
    main()
