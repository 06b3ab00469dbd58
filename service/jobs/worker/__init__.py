"""The worker side of training jobs: `python -m service.jobs.worker` (imports no FastAPI)."""
