"""The frozen executable's entry script (PyInstaller runs this as ``__main__``)."""

from rlm_desktop.__main__ import main

main()
