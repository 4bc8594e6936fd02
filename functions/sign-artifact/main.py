"""The `sign-artifact` function: a functions-framework target over collab_sdk's HTTP pipeline
(the same handler serves it under `collab serve`). Deploy: see ../README.md."""

from collab_sdk.http.functions import sign_artifact

__all__ = ["sign_artifact"]
