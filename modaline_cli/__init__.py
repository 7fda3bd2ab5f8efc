"""``modaline``: the command line for a Modaline gateway.

It speaks to the gateway over HTTP only (the public API under ``/v1``), so it runs anywhere Python does and
never imports ``gateway`` or ``workers`` (an import-linter contract in ``pyproject.toml`` keeps it so).
"""
