"""Training jobs, split by the process that runs each part.

    store/   shared by both: Redis records and Lua scripts, the Celery message helpers
    api/     in the API process: POST /train-jobs and friends, submit-time checks, SSE, reaper
    worker/  in the Celery worker (never imports FastAPI): the task, the runner, the lease

POST /train-jobs -> api.submit.submit_job -> store (record, queued) -> Celery message
worker: worker.app (task) -> worker.runner.run_job -> training.loop.train(progress, should_stop)
worker.lease.Heartbeat keeps the job's lease alive; reapers re-queue jobs whose lease expired.
"""
