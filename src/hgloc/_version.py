"""hgloc's version, in a module of its own so the core can name it without importing hgloc."""

__version__ = "0.1.0"
