"""Errors a user acts on, importable without the heavy libraries (the CLI catches them)."""


class WarehouseLocked(RuntimeError):
    """Another process held the warehouse for longer than the configured wait."""
