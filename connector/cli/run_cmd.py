"""`iec-connector run --config FILE`: run every enabled integration until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from pathlib import Path

import typer

from connector.cli.config_cmd import (
    discover_drivers,
    exit_with_problems,
    required_file,
)
from connector.cli.failures import exit_code_of, failure_line
from connector.cli.options import ConfigFile
from connector.config import load_and_validate
from connector.driver_registry import DriverRegistry
from connector.logging_config import configure_logging
from connector.redaction import FULL_BASE64_BYTES, MIN_SECRET_LENGTH
from connector.runtime.app import ConnectorApp
from contracts import ConfigProblem, ConfigValidationError

__all__ = ["run", "run_with_registry"]

log = logging.getLogger("iec.runtime")


def run(config: ConfigFile = None) -> None:
    """Run the configured integrations until SIGTERM/SIGINT.

    Exits 0 after a graceful stop, 2 when the configuration must change (settings, TLS files,
    credentials, ACLs, missing topics), 1 when something else failed (the cluster, a driver's
    downstream), 130 when a second signal aborted it.
    """
    code = run_with_registry(required_file(config), discover_drivers())
    _exit_despite_hung_driver_threads(code)
    raise typer.Exit(code)


def _exit_despite_hung_driver_threads(code: int) -> None:
    """Exit now if a driver call abandoned after its timeout still holds a thread.

    Everything is committed and closed by now; the interpreter would otherwise wait at exit
    for that (non-daemon) worker thread, possibly forever.
    """
    workers = [t for t in threading.enumerate() if t.name.startswith("driver-")]
    for worker in workers:
        worker.join(0.5)  # idle pool threads end as soon as they see the shutdown
    hung = [t for t in workers if t.is_alive()]
    if not hung:
        return
    logging.getLogger("iec.runtime").warning(
        "%d driver call(s) still running after shutdown; exiting without them", len(hung)
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_with_registry(config: Path | None, registry: DriverRegistry) -> int:
    """`run` with an explicit driver registry (tests run unpackaged drivers through it)."""
    try:
        settings, driver_configs = load_and_validate(config, registry)
    except ConfigValidationError as exc:
        return exit_with_problems(exc.problems).exit_code
    if not settings.enabled_integrations():
        return exit_with_problems(
            [ConfigProblem("integrations", "required", "no enabled integration: nothing to run")]
        ).exit_code
    app = ConnectorApp(settings, registry, driver_configs)
    configure_logging(settings.runtime.log_level, settings.runtime.log_format, app.redactor)
    for where in app.redactor.unredacted:
        log.warning(
            "%s: a secret shorter than %d characters cannot be redacted safely and is NOT "
            "masked in logs or dead letters; use a longer one",
            where,
            MIN_SECRET_LENGTH,
        )
    for where in app.redactor.base64_partial:
        log.warning(
            "%s: a secret shorter than %d bytes is masked in text, but base64-encoded (e.g. "
            "in an Authorization: Basic header) only at some positions; use a longer one",
            where,
            FULL_BASE64_BYTES,
        )
    try:
        return asyncio.run(app.run())
    except Exception as exc:
        # One line through the redacting handler (text or JSON), the code the docs give; the
        # traceback only at DEBUG.
        what = "stopped" if app.started.is_set() else "cannot start"
        log.critical("%s: %s", what, failure_line(exc))
        log.debug("the failure in full", exc_info=exc)
        return exit_code_of(exc)
