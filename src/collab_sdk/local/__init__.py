"""The embedded default: a PostgreSQL started from the ``pgserver`` wheel (``embedded``),
the migrator (``migrate``) and the SQL it applies (``paths``: packaged in the wheel), the
home directory that holds the data (``home``), and ``LocalStorage`` for artifacts
(``storage``).

May import: ``collab_sdk.errors`` and the transports' base protocols. Never the client,
worker, CLI or HTTP.
"""
