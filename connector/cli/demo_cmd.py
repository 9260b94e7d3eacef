"""`iec-connector demo`: publish a sample catalogue and run the connector on it, end to end.

Steps (each prints what it does):

1. A broker: use the one at ``--bootstrap-servers``, or start the local one
   (`connector.local_kafka`) when none answers on a local address.
2. Topics: the run's own, from the same plan the runtime uses (prefix ``demo-<time>-<hex>``,
   so every run starts from zero: fresh topics, group, mappings and figures).
3. Publish the catalogue through the publisher SDK (a progress bar counts acknowledgements).
4. Run the connector in-process with the chosen driver (``--driver``: a fake Magento store
   by default, started for the run; see `connector.demo.targets`) until every published
   mutation is handled (a progress bar), then stop it gracefully (in-flight batch done,
   offsets committed).
5. Read back the committed lag, the mapping topic and what the downstream holds; print the
   summary.
6. Delete the run's topics and group (unless ``--keep-topics``); stop the broker only with
   ``--stop-broker``.

Exit status 0 when the summary matches a correct run, else 1 with the reasons.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from connector import local_kafka
from connector.demo import (
    DEFAULT_PRODUCTS,
    ConnectorRun,
    DemoPlan,
    DemoSummary,
    IntegrationFigures,
    committed_lag,
    delete_run,
    demo_registry,
    plan_demo,
    publish_mutations,
    render_summary,
    run_until_caught_up,
    stored_mappings,
)
from connector.demo.targets import DEMO_TARGETS, DemoOptions, DemoTarget, demo_target
from connector.driver_registry import DriverRegistry
from connector.kafka import new_admin
from connector.local_kafka.probe import parse_bootstrap
from connector.publisher import PublishError
from connector.redaction import RedactingFilter, Redactor
from connector.topic_admin import TopicStatus, apply_plan, plan_topics
from contracts import MutationData

__all__ = ["EXIT_DEMO_FAILED", "demo"]

EXIT_DEMO_FAILED = 1
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_STOP_HINT = "python -m connector.local_kafka down"
_T = TypeVar("_T")


class DemoStepError(Exception):
    """A step failed; the message says which and why."""


def demo(
    products: Annotated[
        int, typer.Option("--products", min=1, help="Products in the sample catalogue (scale).")
    ] = DEFAULT_PRODUCTS,
    bootstrap_servers: Annotated[
        str, typer.Option("--bootstrap-servers", help="The Kafka cluster to use.")
    ] = "127.0.0.1:9092",
    keep_broker: Annotated[
        bool,
        typer.Option(
            "--keep-broker/--stop-broker",
            help="Leave the local broker running afterwards (default), or stop it.",
        ),
    ] = True,
    keep_topics: Annotated[
        bool,
        typer.Option("--keep-topics", help="Keep the run's topics and group for inspection."),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=1,
            show_default=False,
            help="Seconds the connector may take to catch up (default: as long as records keep "
            "finishing; it gives up after 60 s in which none did).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log at INFO (every mutation the driver sees).")
    ] = False,
    driver: Annotated[
        str,
        typer.Option(
            "--driver",
            help=f"Where the catalogue goes: {' | '.join(DEMO_TARGETS)} (example: the bare "
            "runtime, no downstream).",
        ),
    ] = next(iter(DEMO_TARGETS)),
    magento_url: Annotated[
        str | None,
        typer.Option(
            "--magento-url",
            help="A real Magento store instead of the fake one; credentials from "
            "MAGENTO_CONSUMER_KEY, MAGENTO_CONSUMER_SECRET, MAGENTO_ACCESS_TOKEN, "
            "MAGENTO_ACCESS_TOKEN_SECRET (or MAGENTO_AUTH=bearer and MAGENTO_ACCESS_TOKEN).",
        ),
    ] = None,
) -> None:
    """Publish a sample catalogue and run the connector on it into a (fake) Magento store.

    Starts the local broker if none answers; every run gets its own topics (demo-<time>-<hex>).

    Publishes families, attributes, categories and products: created, updated and deleted.

    Runs the connector until it has handled them all, then prints a summary.

    Exits 0 when every figure is as expected, 1 otherwise.
    """
    console = Console(highlight=False)
    try:
        target = demo_target(driver, DemoOptions(magento_url=magento_url, environ=os.environ))
    except ValueError as exc:
        console.print(f"[bold red]demo failed:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_DEMO_FAILED) from None
    with _demo_logging(console, verbose):
        try:
            summary = _run(
                console, products, bootstrap_servers, keep_topics, timeout, verbose, target
            )
        except DemoStepError as exc:
            console.print(f"[bold red]demo failed:[/] {escape(str(exc))}")
            _broker_epilogue(console, bootstrap_servers, keep_broker)
            raise typer.Exit(EXIT_DEMO_FAILED) from None
    console.print()
    console.print(render_summary(summary))
    _broker_epilogue(console, bootstrap_servers, keep_broker)
    if not summary.ok:
        raise typer.Exit(EXIT_DEMO_FAILED)


def _run(
    console: Console,
    products: int,
    bootstrap: str,
    keep_topics: bool,
    timeout: float | None,
    verbose: bool,
    target: DemoTarget,
) -> DemoSummary:
    began = time.perf_counter()
    # 1. broker, and the downstream
    _ensure_broker(console, bootstrap)
    target.start()
    try:
        console.print(f"[green]✓[/] driver: {target.describe()}")
        return _run_with_target(
            console, products, bootstrap, keep_topics, timeout, verbose, target, began
        )
    finally:
        target.stop()


def _run_with_target(
    console: Console,
    products: int,
    bootstrap: str,
    keep_topics: bool,
    timeout: float | None,
    verbose: bool,
    target: DemoTarget,
    began: float,
) -> DemoSummary:
    plan = plan_demo(
        bootstrap, products=products, log_level="INFO" if verbose else "WARNING", target=target
    )
    client_config = plan.settings.kafka.client_config()
    # librdkafka logs through Python logging (else it prints to stderr at exit).
    admin = new_admin(client_config, logger=logging.getLogger("iec.demo.kafka"))
    registry = demo_registry(target)
    # 2. topics
    topic_plan = plan_topics(plan.settings, registry)
    try:
        with console.status(f"creating {len(topic_plan.topics)} topics"):
            results = apply_plan(admin, topic_plan)
    except KafkaException as exc:
        raise DemoStepError(f"cannot create topics on {bootstrap}: {exc}") from None
    refused = [r for r in results if not r.ok]
    if refused:
        raise DemoStepError("; ".join(f"topic {r.spec.name}: {r.detail}" for r in refused))
    created = sum(1 for r in results if r.status is TopicStatus.CREATED)
    console.print(
        f"[green]✓[/] topics: {created} created with prefix [bold]{plan.run_id}[/] "
        f"({plan.topics.partitions} partitions per entity type)"
    )
    try:
        # 3. publish (the first phase; the target may publish the rest in phases)
        phases = target.phases(plan.mutations)
        published, publish_seconds = _publish(console, plan, client_config, phases[0])
        timings = [publish_seconds]

        def feeder(phase: tuple[MutationData, ...]) -> Callable[[], int]:
            def publish_phase() -> int:
                outcome = publish_mutations(
                    phase,
                    bootstrap_servers=plan.settings.kafka.bootstrap_servers,
                    topics=plan.topics,
                    client_config=client_config,
                )
                timings.append(outcome.seconds)
                return outcome.acknowledged

            return publish_phase

        total = len(plan.mutations)
        # 4. run the connector
        limit = timeout  # None: until caught up, or until 60 s pass without progress
        run = _run_connector(
            console, plan, registry, total, limit, [feeder(p) for p in phases[1:]], published
        )
        published, publish_seconds = total if len(phases) > 1 else published, sum(timings)
        # 5. read back what survives the process
        lag = _maybe(lambda: committed_lag(plan, client_config), "reading the committed lag")
        mappings = _maybe(lambda: stored_mappings(plan, client_config), "reading the mappings")
    finally:
        # 6. clean up
        if keep_topics:
            console.print(f"topics kept: prefix [bold]{plan.run_id}[/]")
        else:
            _maybe(lambda: delete_run(plan, admin, topic_plan.names()), "deleting the topics")
    return DemoSummary(
        run_id=plan.run_id,
        integration_uuid=plan.integration.uuid,
        published=published,
        publish_seconds=publish_seconds,
        expected=plan.expected,
        run=run,
        committed_lag=lag,
        mappings=mappings,
        live_entities=plan.live_entities,
        elapsed_seconds=time.perf_counter() - began,
        expected_mappings=target.expected_mappings(plan.mutations, plan.live_entities),
        target=_maybe(lambda: target.report(plan.mutations), "reading the downstream back"),
        target_description=target.describe(),
    )


_DEFAULT_PORT = 9092
_DEFAULT_SASL_PORT = 9094


def _ensure_broker(console: Console, bootstrap: str) -> None:
    """1. Use the broker that answers, or start the local one on a local address."""
    if local_kafka.broker_answers(bootstrap):
        console.print(f"[green]✓[/] broker: {bootstrap} answers")
        return
    host, port = parse_bootstrap(bootstrap)[0]
    if host not in _LOCAL_HOSTS:
        raise DemoStepError(f"no Kafka broker answers at {bootstrap}")
    console.print(
        f"no broker answers at {bootstrap}: starting the local one (connector.local_kafka; "
        "the first start assembles Kafka from Maven Central: ~10 s, longer on a slow network)"
    )
    started = time.perf_counter()
    try:
        # The SASL listener (9094) comes with the default port only: tests expect it there,
        # and on another port it could collide with a broker already on 9092/9094.
        sasl_port = _DEFAULT_SASL_PORT if port == _DEFAULT_PORT else None
        local_kafka.ensure_running(port, sasl_port=sasl_port, echo=True)
    except local_kafka.LocalKafkaError as exc:
        raise DemoStepError(f"the local broker did not start: {exc}") from None
    console.print(
        f"[green]✓[/] broker: started on {bootstrap} in {time.perf_counter() - started:.1f} s"
    )


def _publish(
    console: Console,
    plan: DemoPlan,
    client_config: dict[str, str],
    mutations: tuple[MutationData, ...],
) -> tuple[int, float]:
    """3. The catalogue through the publisher SDK; the bar counts acknowledged records."""
    total = len(mutations)
    what = "the catalogue" if total == len(plan.mutations) else "its first phase"
    with _progress(console) as progress:
        task = progress.add_task(f"publishing {what}", total=total)
        try:
            outcome = publish_mutations(
                mutations,
                bootstrap_servers=plan.settings.kafka.bootstrap_servers,
                topics=plan.topics,
                client_config=client_config,
                on_acknowledged=lambda n: progress.update(task, completed=n),
            )
        except PublishError as exc:
            raise DemoStepError(f"publishing failed: {exc}") from None
    return outcome.acknowledged, outcome.seconds


def _run_connector(
    console: Console,
    plan: DemoPlan,
    registry: DriverRegistry,
    published: int,
    timeout: float | None,
    feed: list[Callable[[], int]],
    fed: int,
) -> ConnectorRun:
    """4. The connector in-process until caught up; the bar counts finished records."""
    labels = {
        "starting": "connector: starting",
        "handling": "connector: handling",
        "stopping": "connector: stopping",
    }
    with _progress(console) as progress:
        task = progress.add_task(labels["starting"], total=published)

        def show(phase: str, figures: IntegrationFigures) -> None:
            progress.update(task, description=labels[phase], completed=figures.done)

        run = asyncio.run(
            run_until_caught_up(
                plan,
                registry,
                published=published,
                timeout_s=timeout,
                on_progress=show,
                # Ctrl-C then stops the connector gracefully (a second one aborts).
                install_signal_handlers=threading.current_thread() is threading.main_thread(),
                feed=feed,
                fed=fed,
            )
        )
    if run.metrics_url:
        console.print(f"[green]✓[/] metrics were served at {run.metrics_url} during the run")
    return run


def _maybe(step: Callable[[], _T], what: str) -> _T | None:
    """A read-back or clean-up step; a failure is logged (the summary shows "unknown")."""
    try:
        return step()
    except Exception as exc:
        logging.getLogger("iec.demo").warning("%s failed: %s", what, exc)
        return None


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.percentage]{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        yield progress


@contextmanager
def _demo_logging(console: Console, verbose: bool) -> Iterator[None]:
    """Log through the console (so progress bars stay whole), redacted; restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    kafka_logger = logging.getLogger("confluent_kafka")
    saved_kafka_level = kafka_logger.level
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    handler.addFilter(RedactingFilter(Redactor()))
    for old in saved_handlers:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    kafka_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for old in saved_handlers:
            root.addHandler(old)
        root.setLevel(saved_level)
        kafka_logger.setLevel(saved_kafka_level)


def _broker_epilogue(console: Console, bootstrap: str, keep_broker: bool) -> None:
    """6. Stop the local broker with --stop-broker; otherwise say how to."""
    ours = local_kafka.running_broker()
    ours_here = ours is not None and ours.bootstrap == bootstrap
    if keep_broker:
        if ours_here:
            console.print(
                f"the local broker keeps running on {bootstrap}; stop it with "
                f"[bold]{_STOP_HINT}[/] (or run the demo with --stop-broker)"
            )
        return
    if not ours_here:
        console.print(
            f"the broker at {bootstrap} was not started by connector.local_kafka: left running"
        )
        return
    console.print(
        "stopped the local broker" if local_kafka.stop() else "the local broker was not running"
    )
