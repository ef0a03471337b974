"""counselctl's commands: thin — parse options, call opsctl's modules, print."""
