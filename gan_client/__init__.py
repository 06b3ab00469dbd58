"""A client for the GAN service: samples, models, datasets and training jobs over HTTP.

    from gan_client import GanClient

    with GanClient() as gan:  # GAN_URL, GAN_API_KEY
        images = gan.sample("digits", n=16, seed=42)  # 16 PIL images
        job = gan.train("ring-8", steps=500)
        for event in job.events():
            print(event["type"], event.get("step"))
        record = job.wait()  # JobFailed if it failed

`AsyncGanClient` has the same methods, awaited. The command line: `python -m gan_client --help`.
"""

__version__ = "0.1.0"

from gan_client.async_client import AsyncGanClient, AsyncJob  # noqa: E402
from gan_client.calls import Sampled  # noqa: E402
from gan_client.client import GanClient, Job  # noqa: E402
from gan_client.errors import (  # noqa: E402
    AuthError,
    BadRequest,
    Busy,
    Conflict,
    GanError,
    JobFailed,
    JobTimeout,
    NotFound,
    ServerError,
    Unreachable,
)
from gan_client.retry import RetryPolicy  # noqa: E402

__all__ = [
    "AsyncGanClient",
    "AsyncJob",
    "AuthError",
    "BadRequest",
    "Busy",
    "Conflict",
    "GanClient",
    "GanError",
    "Job",
    "JobFailed",
    "JobTimeout",
    "NotFound",
    "RetryPolicy",
    "Sampled",
    "ServerError",
    "Unreachable",
]
