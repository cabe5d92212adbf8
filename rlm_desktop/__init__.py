"""RLM Desktop: ask hard questions of your own documents, offline."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported on first use, so the REPL child (which imports this package) stays light.
    if name == "RLM":
        from rlm_desktop.rlm.engine import RLM

        return RLM
    raise AttributeError(f"module 'rlm_desktop' has no attribute {name!r}")
