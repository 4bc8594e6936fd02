"""The `dlq-retry` function: a functions-framework target over collab_sdk's HTTP pipeline
(the same handler serves it under `collab serve`). Deploy: see ../README.md."""

from collab_sdk.http.functions import dlq_retry

__all__ = ["dlq_retry"]
