"""A file kept with a case, answered as a download (the agent workspace and the API both serve
them this way)."""

from __future__ import annotations

from django.http import FileResponse, Http404

from .models import Attachment


def attachment_download(attachment: Attachment | None) -> FileResponse:
    """`attachment`'s file, always as a download (never shown inline, whatever type its sender
    gave it); 404 when there is none, or its file is missing."""
    if attachment is None:
        raise Http404("No such attachment.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The attachment's file is missing.") from exc
    return FileResponse(
        handle, as_attachment=True, filename=attachment.filename, content_type=attachment.content_type
    )
