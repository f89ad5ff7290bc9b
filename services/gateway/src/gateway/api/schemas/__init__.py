"""The public HTTP API's shapes: pydantic request/response models and the converters from gRPC messages to them.

Owns what a body looks like on the wire, one module per feature (shared ones in `common`). Must not
call anything (no database, no downstream stub, no FastAPI routing): a converter takes a message and
returns a model, so every route that shows the same thing shows it the same way.
"""
