"""The one redacting logging path: records, warnings, thread exceptions; text and JSON."""

from __future__ import annotations

import gc
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Literal

import pytest

from connector.logging_config import configure_logging
from connector.redaction import Redactor

SECRET = "Canary-s3cret/Value"


@pytest.fixture
def logging_of_the_process() -> Iterator[None]:
    """configure_logging replaces process-wide state: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    threading.excepthook, sys.unraisablehook = thread_hook, unraisable_hook
    logging.captureWarnings(False)


def _configure(fmt: Literal["text", "json"]) -> None:
    configure_logging("INFO", fmt, Redactor([SECRET]))


def _fail_with_secret() -> None:
    try:
        raise KeyError(f"lookup of {SECRET}")
    except KeyError as inner:
        raise RuntimeError(f"call failed with token={SECRET}") from inner


@pytest.mark.usefixtures("logging_of_the_process")
def test_json_lines_redact_dict_extras_and_carry_the_redacted_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _configure("json")
    log = logging.getLogger("iec.integration.shop")
    log.warning(
        "calling %s", "https://shop.test", extra={"auth": {"api_key": SECRET, "n": 3}, "ids": [1]}
    )
    try:
        _fail_with_secret()
    except RuntimeError:
        log.exception("handle_batch failed", extra={"entity_uuid": "e-1"})
    log.info("where", stack_info=True)

    err = capsys.readouterr().err
    assert SECRET not in err
    first, second, third = (json.loads(line) for line in err.splitlines())
    assert first["message"] == "calling https://shop.test"
    assert first["auth"] == {"api_key": "***", "n": 3}
    assert first["ids"] == [1]
    assert second["entity_uuid"] == "e-1"
    assert "Traceback (most recent call last)" in second["exception"]
    assert "KeyError: 'lookup of ***'" in second["exception"]
    assert "RuntimeError: call failed with token=***" in second["exception"]
    assert "test_logging_config.py" in third["stack"]


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.usefixtures("logging_of_the_process")
def test_warnings_and_thread_exceptions_go_through_the_redacting_handler(
    fmt: Literal["text", "json"], capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"token {SECRET} is deprecated", DeprecationWarning, stacklevel=1)

    def worker() -> None:
        raise ValueError(f"worker saw {SECRET}")

    thread = threading.Thread(target=worker, name="driver-spawned")
    thread.start()
    thread.join()

    class Leaky:
        def __del__(self) -> None:
            raise OSError(f"closing with {SECRET}")

    Leaky()
    gc.collect()

    err = capsys.readouterr().err
    assert SECRET not in err
    assert "token *** is deprecated" in err
    assert "uncaught exception in thread driver-spawned" in err
    assert "ValueError: worker saw ***" in err
    assert "OSError: closing with ***" in err
    if fmt == "json":
        records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert len(records) == 3
        assert {r["logger"] for r in records} == {"py.warnings", "iec.thread"}
    else:
        assert err.count("WARNING py.warnings") == 1
        assert err.count("ERROR   iec.thread") == 2


@pytest.mark.usefixtures("logging_of_the_process")
def test_text_lines_are_redacted_including_extras(capsys: pytest.CaptureFixture[str]) -> None:
    _configure("text")
    logging.getLogger("iec.runtime").error("refused %s", {"password": SECRET})
    err = capsys.readouterr().err
    assert "ERROR   iec.runtime: refused {'password': '***'}" in err
    assert SECRET not in err
