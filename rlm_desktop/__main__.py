"""``python -m rlm_desktop``: the command line (and, with ``--rlm-child``, the app's children)."""

from rlm_desktop.launch import main

if __name__ == "__main__":
    main()
