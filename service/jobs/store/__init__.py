"""What the API and the workers share: job records in Redis and the Celery messages."""
