"""Training jobs: Redis job records, a Celery task around the training loop, the jobs API.

POST /train-jobs -> submit.submit_job -> store (record, queued) -> Celery message
worker: tasks.train_job -> runner.run_job -> training.loop.train(progress, should_stop)
lease.Heartbeat keeps the job's lease alive; reaper re-queues jobs whose lease expired.
"""
