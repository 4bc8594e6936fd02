"""The ``collab`` command: ``main`` builds the parser from one module per command group
(``db``, ``jobs``, ``watch``, ``worker``, ``serve``, ``demo``); ``output`` prints tables
and JSON and holds the one ``ExitStatus`` enum every command (and the worker) exits with.

May import: everything else in collab_sdk. Nothing imports it.
"""

from collab_sdk.cli.main import main

__all__ = ["main"]
