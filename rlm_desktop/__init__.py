"""RLM Desktop: ask hard questions of your own documents, offline."""

__version__ = "0.1.0"
