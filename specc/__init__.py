"""specc: a compiler from declarative training specs to standalone training scripts."""

__version__ = "0.1.0"
LANGUAGE_VERSION = 1
