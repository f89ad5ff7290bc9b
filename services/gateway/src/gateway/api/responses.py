"""Responses that more than one route sends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask


def export_download(path: Path, user_id: str) -> FileResponse:
    """A data export's ZIP file, removed once it is sent."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return FileResponse(path, media_type="application/zip", filename=f"export-{user_id}-{stamp}.zip",
                        background=BackgroundTask(path.unlink, missing_ok=True))
