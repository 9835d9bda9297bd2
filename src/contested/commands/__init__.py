"""CLI command groups, one module per layer; imported by :mod:`contested.cli`.

Heavy libraries (torch, transformers) are imported inside the command functions so that
``contested --help`` and the data commands start fast.
"""
