"""One module per API feature, each with its `router`; `gateway.app` mounts them.

Routes import `api.deps`, `api.schemas` and the gateway's domain modules, never each other.
"""
