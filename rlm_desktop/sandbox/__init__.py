"""The sandboxed REPL: a confined child process that holds ``context`` and runs model code."""
