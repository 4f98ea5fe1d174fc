"""Backend-neutral data pipeline (numpy only): sources, the deterministic loader, and the
draws objectives need. See docs/runtime.md."""

from specc.runtime.data import files, ksin, streams, synthetic, tokens, user_source  # noqa: F401  (register the sources)
from specc.runtime.data.draws import chain, flow_draws, ot_coupling, token_positions
from specc.runtime.data.ksin import ksin_signal
from specc.runtime.data.labels import check_labels, check_source, label_ranges
from specc.runtime.data.loader import LOADER_OPTIONS, Loader, loader_options
from specc.runtime.data.predict import write_predictions
from specc.runtime.data.render import render_signals
from specc.runtime.data.tokens import expected_value_term
from specc.runtime.data.sources import LOADER_KEYS, SOURCES, SPLITS, Source, check_fields, make_source
from specc.runtime.data.transforms import TRANSFORMS, Transform, build_transforms

__all__ = [
    "LOADER_KEYS",
    "LOADER_OPTIONS",
    "SOURCES",
    "TRANSFORMS",
    "Transform",
    "build_transforms",
    "loader_options",
    "SPLITS",
    "Loader",
    "Source",
    "chain",
    "check_fields",
    "check_labels",
    "check_source",
    "expected_value_term",
    "flow_draws",
    "ksin_signal",
    "label_ranges",
    "make_source",
    "ot_coupling",
    "render_signals",
    "token_positions",
    "write_predictions",
]
