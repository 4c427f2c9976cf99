"""Sub-commands of ``scratchnet``: each module has register(subparsers)."""
