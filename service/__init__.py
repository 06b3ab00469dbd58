"""The sample service: FastAPI app, batched sampling, model registry and training jobs."""
