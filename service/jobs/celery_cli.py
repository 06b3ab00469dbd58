"""`python -m service.jobs.celery_cli ARGS`: Celery's own command line (`inspect ping`,
`flower`, `purge`...) on the app built from the GAN_* settings.

A `celery -b URL` command line would need the Redis password in the URL; this one takes it
where the service does (GAN_REDIS_PASSWORD_FILE), so health checks and Flower work with the
password kept in a file. The exit status is Celery's (0 = the command succeeded).
"""

from __future__ import annotations

import sys

from click import ClickException

from service.check import load_settings
from service.jobs.store.queue import make_celery

PROG = "python -m service.jobs.celery_cli"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = load_settings(PROG)
    if settings is None:
        return 2
    if not settings.redis_url:
        print(f"{PROG}: GAN_REDIS_URL is empty: there is no broker to talk to", file=sys.stderr)
        return 2
    try:
        return make_celery(settings).start(argv=args) or 0
    except ClickException as exc:  # Celery's own errors: its message, not a traceback
        exc.show()
        return getattr(exc, "exit_code", 1) or 1


if __name__ == "__main__":
    sys.exit(main())
