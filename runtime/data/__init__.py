"""Backend-neutral data pipeline (numpy only): sources, the deterministic loader, and the
draws objectives need. See docs/runtime.md."""

from specc.runtime.data import files, ksin, synthetic, tokens  # noqa: F401  (register the sources)
from specc.runtime.data.draws import flow_draws, ot_coupling, token_positions
from specc.runtime.data.ksin import ksin_signal
from specc.runtime.data.loader import Loader
from specc.runtime.data.sources import SOURCES, SPLITS, Source, check_fields, make_source

__all__ = [
    "SOURCES",
    "SPLITS",
    "Loader",
    "Source",
    "check_fields",
    "flow_draws",
    "ksin_signal",
    "make_source",
    "ot_coupling",
    "token_positions",
]
