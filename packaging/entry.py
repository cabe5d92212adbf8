"""The frozen executable's entry script (PyInstaller runs this as ``__main__``)."""

from rlm_desktop.launch import main

main()
