"""Subcommands of the ``edigate`` CLI that live in their own modules."""
