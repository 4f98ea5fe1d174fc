"""The ``specc`` command: ``main()`` (``main.py``, with the fast path of lint and fmt), the
typer application (``app.py``), diagnostic output formats (``formats.py``) and
``specc explain`` (``explain.py``)."""
