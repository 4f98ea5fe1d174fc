"""``python -m specc``: the ``specc`` command line."""

from specc.compiler.cli.main import main

if __name__ == "__main__":
    main()
