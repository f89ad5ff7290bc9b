"""The gateway's HTTP surface: routes (`routes/`, one `APIRouter` per feature), their shapes
(`schemas/`) and request dependencies (`deps`).

A route parses and validates the request, calls the one gateway module that owns the behaviour
(`identity`, `administration`, `uploads`, `privacy`; a downstream stub for a plain read) and
shapes the response. Must not run SQL nor hold business rules; no route imports another.
"""
