"""How every `iec-connector` command fails: one redacted line on stderr and a documented exit code.

Exit codes (the same for every command; `EXIT_NOT_FOUND` is only for lookups):

- 0: done;
- 1 (`EXIT_ENVIRONMENT`): something outside the configuration failed — the cluster cannot be
  reached or answered with an error that may pass, a driver's `open()` could not reach its
  downstream, a port is taken;
- 2 (`EXIT_CONFIGURATION`): the configuration must change — a setting, a file it names (TLS
  certificates and keys), credentials the cluster refused, missing ACLs, missing topics;
- 3: `mappings get` and `dead-letters show` found nothing;
- 130: `run` aborted by a second signal.

A failure is never a traceback: `failure_line` describes it in one line (the caller passes it
through the `Redactor`), `exit_code_of` picks the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from confluent_kafka import KafkaError

from connector.kafka.errors import ErrorFamily, cluster_failure, describe, error_of, family_of
from connector.redaction import Redactor, qualified_name
from contracts import ConfigurationError

__all__ = [
    "EXIT_CONFIGURATION",
    "EXIT_ENVIRONMENT",
    "exit_code_of",
    "failure_line",
    "reported_failures",
]

EXIT_ENVIRONMENT = 1
EXIT_CONFIGURATION = 2

# librdkafka refusing its own settings: "ssl.ca.location failed: ..."
_REFUSED_PROPERTY = re.compile(r"\b((?:ssl|sasl)\.[a-z0-9._]+?) failed")
_SETTINGS = {
    "ssl.ca.location": "kafka.ssl_ca_location",
    "ssl.certificate.location": "kafka.ssl_certificate_location",
    "ssl.key.location": "kafka.ssl_key_location",
    "ssl.key.password": "kafka.ssl_key_password",
}


def exit_code_of(exc: BaseException) -> int:
    """2 when the configuration must change, else 1 (see the module docstring)."""
    if isinstance(exc, ConfigurationError):
        return EXIT_CONFIGURATION
    error = error_of(exc)
    if error is not None and family_of(error) is ErrorFamily.CONFIGURATION:
        return EXIT_CONFIGURATION
    return EXIT_ENVIRONMENT


def failure_line(exc: BaseException) -> str:
    """One line saying what failed and what to check (not yet redacted)."""
    error = error_of(exc)
    if error is not None:
        return _kafka_line(exc, error)
    if isinstance(exc, ConfigurationError | ConnectionError) and str(exc):
        text = str(exc)  # written for this line (the preflight check, the runtime)
    elif isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    else:
        text = f"{qualified_name(type(exc))}: {exc}" if str(exc) else qualified_name(type(exc))
    return " ".join(text.split())  # one line, whatever the exception's text holds


def _kafka_line(exc: BaseException, error: KafkaError) -> str:
    if error.code() == KafkaError._INVALID_ARG:
        match = _REFUSED_PROPERTY.search(error.str())
        if match is not None:
            prop = match.group(1)
            setting = _SETTINGS.get(prop, f"kafka.extra.{prop}")
            return (
                f"the Kafka client refused its settings ({describe(error)}): check {setting} "
                "(the file must exist, be readable and hold PEM)"
            )
        return f"the Kafka client refused its settings ({describe(error)}): check the kafka section"
    return cluster_failure(exc)


@contextmanager
def reported_failures(redactor: Redactor) -> Iterator[None]:
    """Turn any failure inside into its one line on stderr and ``typer.Exit(code)``.

    `typer.Exit` and `typer.Abort` pass through (a command's own exits).
    """
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        typer.echo(redactor.redact(f"error: {failure_line(exc)}"), err=True)
        raise typer.Exit(exit_code_of(exc)) from None
