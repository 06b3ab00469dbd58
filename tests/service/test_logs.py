"""JSON log lines: written off the logging thread, yet carrying that thread's request id."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from service import logs


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    logs.configure_logging()
    yield out
    logs._stop_listener()
    root.handlers[:], root.level = saved


def _lines(out: io.StringIO) -> list[dict]:
    logs._stop_listener()  # drains the queue
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_lines_keep_the_request_id_of_the_thread_that_logged(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    formatted_on: set[str] = set()
    real_format = logs.JsonFormatter.format

    def spy(self: logs.JsonFormatter, record: logging.LogRecord) -> str:
        formatted_on.add(threading.current_thread().name)
        return real_format(self, record)

    monkeypatch.setattr(logs.JsonFormatter, "format", spy)
    token = logs.request_id_var.set("req-7")
    try:
        logging.getLogger("service.access").info(
            "%s %s %d", "POST", "/samples", 200, extra={"status": 200}
        )
    finally:
        logs.request_id_var.reset(token)
    logging.getLogger("service.app").warning("no request here")
    first, second = _lines(captured)
    assert first["msg"] == "POST /samples 200" and first["request_id"] == "req-7"
    assert first["status"] == 200 and first["level"] == "info"
    assert second["request_id"] == "-" and second["logger"] == "service.app"
    assert formatted_on and threading.current_thread().name not in formatted_on


def test_a_traceback_is_formatted_and_nothing_is_lost_at_stop(captured: io.StringIO) -> None:
    try:
        raise ValueError("bad thing")
    except ValueError:
        logging.getLogger("service").exception("failed")
    for i in range(500):
        logging.getLogger("service").info("line %d", i)
    lines = _lines(captured)
    assert "ValueError: bad thing" in lines[0]["exc"]
    assert [line["msg"] for line in lines[1:]] == [f"line {i}" for i in range(500)]
