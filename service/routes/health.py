"""GET /healthz (alive), GET /readyz (a model loaded and warm), GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from service.deps import RuntimeDep
from service.openapi_examples import HEALTHZ_OK, METRICS_OK, READYZ_RESPONSES

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={200: HEALTHZ_OK})
async def healthz() -> dict[str, str]:
    """The process answers (it may still be loading models: see /readyz)."""
    return {"status": "alive"}


@router.get("/readyz", responses=READYZ_RESPONSES)
async def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """200 when a generator is loaded and warmed up (or, with GAN_READY_WITHOUT_MODEL, when
    start-up is done) and, in the embedded default, its Redis and worker are up; 503 with the
    reason otherwise (e.g. "embedded worker is down (restarting, attempt 2)")."""
    ok, reason = runtime.ready()
    supervisor = request.app.state.supervisor
    if supervisor is not None and (down := supervisor.degraded()):
        ok, reason = False, (down if ok else f"{reason}; {down}")
    body = {
        "status": "ready" if ok else "not ready",
        "reason": reason,
        "models_loaded": runtime.device_cache.loaded_count(),
        "queue_samples": runtime.batcher.queued_samples,
        "device": str(runtime.device),
    }
    if supervisor is not None:
        body["children"] = {
            c.name: {"up": c.up, "pid": c.pid, "restarts": c.restarts, "last_exit": c.last_exit}
            for c in supervisor.status()
        }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: METRICS_OK})
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this instance: requests by route and status, latencies, samples,
    device batch sizes, forward passes, queue depth, model loads and refusals; in the embedded
    default, restarts of its Redis and worker."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
