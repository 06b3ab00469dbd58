"""An upload's body, streamed to a file as it arrives (never held whole in memory)."""

from __future__ import annotations

import errno
from pathlib import Path

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from service.datasets.limits import DISK_FULL
from service.errors import StorageFull, UploadAborted

FLUSH_BYTES = 1 << 20  # gather this much before a write, so each thread hop moves 1 MiB


async def receive_body(request: Request, dest: Path) -> int:
    """Write the body to `dest` (off the event loop); returns its size. The size cap is the
    middleware's (GAN_MAX_UPLOAD_BYTES: from Content-Length, and again while reading)."""
    size = 0
    pending = bytearray()
    with dest.open("xb") as out:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                pending += chunk
                if len(pending) >= FLUSH_BYTES:
                    block, pending = pending, bytearray()
                    await run_in_threadpool(out.write, block)
            if pending:
                await run_in_threadpool(out.write, pending)
        except ClientDisconnect:
            raise UploadAborted("the client disconnected before the upload was complete") from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(DISK_FULL) from None
            raise
    return size
