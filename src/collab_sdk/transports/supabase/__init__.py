"""supabase-py as a transport: one session (``session``) that the PostgREST RPCs
(``rpc``), Storage (``storage``) and Realtime (``realtime``) share — one key, one user
token, one HTTP pool. Importing it loads supabase-py, so nothing imports it eagerly.

May import: ``collab_sdk.transports.base`` and what it may import.
"""
