"""RLM Desktop: ask hard questions of your own documents, offline."""

from rlm_desktop.version import __version__

__all__ = ["RLM", "__version__"]


def __getattr__(name: str):
    # Imported on first use, so the REPL child (which imports this package) stays light.
    if name == "RLM":
        from rlm_desktop.rlm.engine import RLM

        return RLM
    raise AttributeError(f"module 'rlm_desktop' has no attribute {name!r}")
