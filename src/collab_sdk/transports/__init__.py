"""The private boundary between the SDK and the database.

``base`` declares the ``Transport`` protocol (call one RPC, close) and the optional
capabilities a transport may add — acting as another role, LISTEN wake-ups, live event
sources, artifact storage, Realtime — as protocols checked with ``isinstance``.
``postgres`` is psycopg, ``listen`` its LISTEN connection, ``supabase`` supabase-py
(PostgREST RPCs, Storage and Realtime over one shared session).

May import: ``collab_sdk.errors``, ``collab_sdk.timing``, ``collab_sdk.models``. Never the
client, the worker, the CLI or HTTP.
"""
