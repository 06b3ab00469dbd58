"""The API side of training jobs: routes, submit-time checks, the event stream, the reaper."""
