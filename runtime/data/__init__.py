"""Backend-neutral data pipeline (numpy only): sources, the deterministic loader, and the
draws objectives need. See docs/runtime.md."""

from specc.runtime.data import files, ksin, synthetic, tokens  # noqa: F401  (register the sources)
from specc.runtime.data.draws import chain, flow_draws, ot_coupling, token_positions
from specc.runtime.data.ksin import ksin_signal
from specc.runtime.data.loader import Loader
from specc.runtime.data.tokens import expected_value_term
from specc.runtime.data.sources import SOURCES, SPLITS, Source, check_fields, make_source

__all__ = [
    "SOURCES",
    "SPLITS",
    "Loader",
    "Source",
    "chain",
    "check_fields",
    "expected_value_term",
    "flow_draws",
    "ksin_signal",
    "make_source",
    "ot_coupling",
    "token_positions",
]
