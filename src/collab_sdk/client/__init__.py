"""The typed ways in: ``AsyncCollabClient`` (one method per RPC), its blocking twin
``CollabClient``, live event streams and artifacts, and which transport the environment
asks for (``config``). Streams and artifacts get the small RPC core (``rpc``), not the
whole client.

May import: ``collab_sdk.transports``, ``collab_sdk.local`` (the embedded default, on
demand), ``errors``, ``models``, ``states``, ``timing``. Never the worker, CLI or HTTP.
"""

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.rpc import SUPPORTED_SCHEMA_VERSIONS
from collab_sdk.client.sync import CollabClient

__all__ = ["AsyncCollabClient", "CollabClient", "SUPPORTED_SCHEMA_VERSIONS"]
