"""The language server behind ``specc lsp`` (docs/editor.md): diagnostics as you type,
completion, hover, go to definition, formatting and quick fixes, over the checker."""
