"""The ``specc`` command: ``main()`` (``main.py``, with the lint and fmt command bodies), the
typer application (``app.py``), diagnostic output formats (``formats.py``) and
``specc explain`` (``explain.py``)."""
