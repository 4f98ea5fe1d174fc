"""Framework output a user of a generated Lightning script cannot act on, filtered precisely.

Each entry names one message; everything else (Lightning's other warnings, "GPU available
but not used", errors) is still printed.

- Lightning's device lines ``GPU available: False, used: False``, ``TPU available: ...``,
  ``HPU available: ...``: the script chooses the device (``--device``);
- its ``💡 Tip: ...`` advertisements for litlogger and litmodels;
- ``\\`Trainer.fit\\` stopped: \\`max_steps=N\\` reached.``: the run's own log lines say where it
  ended (and the line would run into the progress bar);
- ``The number of training batches (19) is smaller than the logging interval``: misleading,
  the script logs every ``log_every`` steps across epochs (its own logger, not per epoch);
- deprecation warnings (``DeprecationWarning``, ``FutureWarning``) raised inside Lightning's
  or torch's own modules by their own calls (``isinstance(treespec, LeafSpec)``): only a
  new release of the framework changes them.
"""

from __future__ import annotations

import logging
import warnings

# the loggers Lightning's rank_zero_info writes through (the unified package and the standalone ones)
RANK_ZERO_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)
DROPPED_INFO = ("GPU available: ", "TPU available: ", "HPU available: ", "💡 Tip: ", "`Trainer.fit` stopped: ")
FRAMEWORK_MODULES = r"(lightning|lightning_fabric|pytorch_lightning|lightning_utilities|torch)(\..*)?$"


class DropMessages(logging.Filter):
    """Drops the log records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes=DROPPED_INFO):
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefixes)


def silence_framework_noise() -> None:
    """Install the filters above (idempotent)."""
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, DropMessages) for existing in logger.filters):
            logger.addFilter(DropMessages())
    warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than the logging interval")
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=FRAMEWORK_MODULES)
