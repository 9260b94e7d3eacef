"""`ConnectorApp`: every enabled integration of one configuration, in one process.

Start protocol:

1. Check that the topics the integrations need exist (create the missing ones only with
   `topics.create_missing`); refuse to start when one is missing or declared differently
   (e.g. a mapping topic that is not compacted).
2. Per integration: instantiate the driver and bind what the seed's lifecycle gives it
   (one `contracts.DriverBinding`: integration data, config, a logger named for the
   integration, the mapping store, context).
3. Restore every mapping store (in parallel) and bind it to its driver: no mutation is
   consumed before the mappings are complete. `/readyz` stays false until then.
4. Call the drivers' `open()` hooks (a failure: `StartupError`, or `ConfigurationError`
   if the driver raised one). A failed start closes what it had built before raising.
5. Start the runners; serve `/metrics`, `/healthz` and `/readyz`.

Stop protocol (first SIGTERM/SIGINT): every runner stops fetching, lets its in-flight batch
finish within `shutdown_grace_ms`, commits what is done and leaves its group; then drivers
are closed (`close()` hooks), stores and dead-letter producers closed; exit code 0. A second
signal aborts at once (exit code 130) without waiting for anything.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from connector.codec import MutationCodec
from connector.codec.configured import configured_codec
from connector.config import ConnectorSettings, IntegrationSettings, KafkaSettings
from connector.dead_letters.headers import DeadLetterContext
from connector.dead_letters.producer import DeadLetterProducer
from connector.driver_registry import DriverRegistry
from connector.health import HealthServer
from connector.kafka.clients import new_admin
from connector.kafka.preflight import check_connection
from connector.mapping_store import KafkaMappingStore
from connector.metrics import METRICS, REGISTRY, ConnectorMetrics
from connector.redaction import Redactor, qualified_name
from connector.runtime.decoding import RecordDecoder
from connector.runtime.handling import WorkHandler
from connector.runtime.invocation import DriverInvoker
from connector.runtime.runner import IntegrationRunner, RunnerSettings, ordering_key
from connector.topic_admin import TopicStatus, apply_plan, check_plan, plan_topics
from contracts import (
    ConfigurationError,
    DriverBinding,
    DriverContract,
    IntegrationContext,
    bind_driver,
    validate_configuration,
)

__all__ = ["EXIT_ABORTED", "EXIT_FAILED", "EXIT_OK", "ConnectorApp", "StartupError"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ABORTED = 130
_STUCK_AFTER_S = 60.0
_STUCK_CALL_AFTER_S = 300.0
_GAUGE_INTERVAL_S = 5.0
_SYNC_TIMEOUT_S = 10.0

log = logging.getLogger("iec.runtime")


class StartupError(Exception):
    """The start failed for a reason outside the configuration (a driver's `open()` could not
    reach its downstream, ...): `iec-connector run` exits 1 with this one line."""


@dataclass(slots=True)
class _Integration:
    settings: IntegrationSettings
    driver: DriverContract
    store: KafkaMappingStore
    dead_letters: DeadLetterProducer
    invoker: DriverInvoker
    runner: IntegrationRunner
    task: asyncio.Task[None] | None = field(default=None)


class ConnectorApp:
    """Builds, runs and stops the integrations; see the module docstring for the protocols."""

    def __init__(
        self,
        settings: ConnectorSettings,
        registry: DriverRegistry,
        driver_configs: dict[str, BaseModel],
        *,
        metrics: ConnectorMetrics = METRICS,
        install_signal_handlers: bool = True,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.driver_configs = driver_configs
        self.metrics = metrics
        self.redactor = Redactor(settings.secrets(driver_configs))
        self._install_signals = install_signal_handlers
        self._integrations: list[_Integration] = []
        self._stop = asyncio.Event()
        self._signals = 0
        self._health: HealthServer | None = None
        self._gauges: asyncio.Task[None] | None = None
        self.started = asyncio.Event()

    # ------------------------------------------------------------------ public ----------
    async def run(self) -> int:
        """Start, run until a signal (or `request_stop`), stop; returns the exit code."""
        loop = asyncio.get_running_loop()
        if self._install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            try:
                await self._start()
            except BaseException:
                await self._close_after_failed_start()
                raise
            self.started.set()
            tasks = [i.task for i in self._integrations if i.task is not None]
            stop = asyncio.create_task(self._stop.wait())
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            failed = [t for t in tasks if t in done and t.exception() is not None]
            if failed and not self._stop.is_set():
                # A fatal integration stops only itself (each is logged as it stops, see
                # `_report_failure`); the others keep running until a signal, and /healthz
                # reports the failure so an orchestrator can react.
                await self._stop.wait()
            stop.cancel()
            await self._shutdown()
            return EXIT_FAILED if any(i.runner.failed for i in self._integrations) else EXIT_OK
        finally:
            if self._install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            if self._health is not None:
                self._health.close()

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def health_port(self) -> int | None:
        return self._health.port if self._health is not None else None

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """Not alive: an integration failed, its poll loop stopped turning, or a sync driver
        call has run past its timeout by more than `_STUCK_CALL_AFTER_S` (a hung thread
        holds its records forever; a restart is the only way to get them handled)."""
        now = time.monotonic()
        details: dict[str, Any] = {}
        ok = True
        for i in self._integrations:
            runner = i.runner
            overdue_since = i.invoker.overdue_since
            if runner.failed is not None:
                state = "failed"
            elif runner.running and now - runner.last_beat > _STUCK_AFTER_S:
                state = "stuck"
            elif overdue_since is not None and now - overdue_since > _STUCK_CALL_AFTER_S:
                state = "driver call hung"
            else:
                state = "ok"
            details[i.settings.name] = state
            ok = ok and state == "ok"
        return ok, {"integrations": details}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {}
        ok = bool(self._integrations) and self.started.is_set()
        for i in self._integrations:
            restored = i.store.ready
            assigned = i.runner.ready
            details[i.settings.name] = {
                "mappings_restored": restored,
                "partitions_assigned": assigned,
            }
            ok = ok and restored and assigned
        return ok, {"integrations": details}

    # ------------------------------------------------------------------ start -----------
    async def _start(self) -> None:
        settings = self.settings
        client_config = settings.kafka.client_config()
        # 1. topics (after checking that the cluster answers and accepts our credentials)
        await asyncio.to_thread(check_connection, client_config)
        await asyncio.to_thread(self._ensure_topics, client_config)
        try:
            codec = configured_codec(settings.schema_registry, settings.topics)
        except (ValueError, OSError) as exc:
            raise ConfigurationError(f"schema_registry: {exc}") from None
        # 2. drivers
        for integration in settings.enabled_integrations():
            self._integrations.append(self._build(integration, client_config, codec))
        # 3. mapping restore, all integrations in parallel, before any mutation
        create = settings.topics.create_missing
        await asyncio.gather(
            *(
                asyncio.to_thread(i.store.start, None, create_topic=create)
                for i in self._integrations
            ),
            # The dead-letter producers start meanwhile: the first dead letter does not wait.
            *(asyncio.to_thread(i.dead_letters.warm_up) for i in self._integrations),
        )
        for i in self._integrations:
            await asyncio.to_thread(i.store.wait_ready, None)
            if i.store.restore_seconds is not None:
                self.metrics.mapping_restore_seconds.labels(i.settings.uuid).set(
                    i.store.restore_seconds
                )
            log.info(
                "%s: %d mappings restored in %.2fs",
                i.settings.name,
                i.store.count(),
                i.store.restore_seconds or 0.0,
            )
        # 4. open hooks: a failure names the integration; ConfigurationError stays one
        for i in self._integrations:
            try:
                await _call_hook(i.driver, "open")
            except ConfigurationError as exc:
                raise ConfigurationError(f"{i.settings.name}: driver open(): {exc}") from exc
            except Exception as exc:
                raise StartupError(
                    f"{i.settings.name}: driver open() failed: {qualified_name(type(exc))}: {exc}"
                ) from exc
        # 5. runners and the health server
        _tune_garbage_collector()
        self._gauges = asyncio.create_task(self._refresh_gauges(), name="gauges")
        for i in self._integrations:
            i.task = asyncio.create_task(i.runner.run(), name=f"integration-{i.settings.name}")
            i.task.add_done_callback(functools.partial(_report_failure, i.settings.name))
        if settings.metrics.enabled:
            self._health = HealthServer(
                settings.metrics.host,
                settings.metrics.port,
                registry=REGISTRY,
                liveness=self.liveness,
                readiness=self.readiness,
            )
            self._health.start()
            log.info("metrics and health on %s:%d", settings.metrics.host, self._health.port)

    async def _refresh_gauges(self) -> None:
        """Mapping counts for Prometheus; a failed mapping tail stops its integration."""
        while True:
            for i in self._integrations:
                self.metrics.mappings.labels(i.settings.uuid).set(i.store.count())
                if i.store.failure is not None and i.runner.failed is None:
                    log.critical("%s: mapping store failed: %s", i.settings.name, i.store.failure)
                    i.runner.fail(i.store.failure)
            await asyncio.sleep(_GAUGE_INTERVAL_S)

    def _ensure_topics(self, client_config: dict[str, str]) -> None:
        plan = plan_topics(self.settings, self.registry)
        admin = new_admin(client_config, logger=logging.getLogger("iec.kafka"))
        if self.settings.topics.create_missing:
            results = apply_plan(admin, plan)
        else:
            results = check_plan(admin, plan)
        missing = [r.spec.name for r in results if r.status is TopicStatus.WOULD_CREATE]
        if missing:
            raise ConfigurationError(
                f"missing topics: {', '.join(missing)} — create them with `iec-connector topics "
                "create --config FILE` (as an admin principal), or set topics.create_missing: "
                "true (the connector's principal then needs the Create ACL). A topic this "
                "principal may not Describe looks missing too."
            )
        refused = [r for r in results if not r.ok]
        for result in results:
            if result.status is TopicStatus.CREATED:
                log.info("created topic %s", result.spec.name)
        if refused:
            raise ConfigurationError(
                "; ".join(f"topic {r.spec.name}: {r.detail or r.status.value}" for r in refused)
            )

    def _build(
        self, integration: IntegrationSettings, client_config: dict[str, str], codec: MutationCodec
    ) -> _Integration:
        settings = self.settings
        topics = settings.topics
        uuid = integration.uuid
        driver = self.registry.create(integration.driver)
        config = self.driver_configs.get(uuid)
        if config is None:  # an app built without validated configs validates here
            config = validate_configuration(driver.get_configuration_schema(), integration.config)
        store = KafkaMappingStore(
            integration_uuid=uuid,
            topic=topics.mapping_topic(uuid),
            client_config=client_config,
            metrics=self.metrics,
        )
        # 2. the seed's lifecycle in one typed step: integration data, config, logger,
        # mapping service and context (see contracts.binding)
        bind_driver(
            driver,
            DriverBinding(
                context=IntegrationContext(
                    integration_uuid=uuid,
                    integration_name=integration.name,
                    environment=settings.runtime.environment,
                    feature_flags=dict(integration.feature_flags),
                    handle_timeout_s=integration.handle_timeout_ms / 1000,
                    retry=integration.retry.policy(),
                ),
                driver_type=integration.driver,
                config=config,
                logger=logging.getLogger(f"iec.integration.{integration.name}"),
                mapping_service=store,
            ),
        )
        entity_types = integration.entity_types or list(driver.get_supported_entity_types())
        group_id = topics.group_id(uuid)
        dead_letters = DeadLetterProducer(
            client_config,
            topics.dead_letter_topic(uuid),
            integration_uuid=uuid,
            metrics=self.metrics,
        )
        logger = logging.getLogger(f"iec.runtime.{integration.name}")
        invoker = DriverInvoker(
            driver,
            integration_uuid=uuid,
            handle_timeout_s=integration.handle_timeout_ms / 1000,
            threads=integration.concurrency,
            metrics=self.metrics,
            logger=logger,
        )
        decoder = RecordDecoder(codec.decode)
        handler = WorkHandler(
            invoker=invoker,
            integration_uuid=uuid,
            retry=integration.retry,
            dead_letters=dead_letters,
            dead_letter_context=DeadLetterContext(
                integration_uuid=uuid,
                integration_name=integration.name,
                consumer_group=group_id,
                driver_type=driver.get_type(),
                driver_version=driver.get_version(),
            ),
            redactor=self.redactor,
            decoder=decoder,
            key_of=ordering_key(integration.ordering),
            metrics=self.metrics,
            logger=logger,
        )
        runner = IntegrationRunner(
            RunnerSettings(
                integration_uuid=uuid,
                integration_name=integration.name,
                group_id=group_id,
                topics=(
                    *(topics.mutation_topic(t) for t in entity_types),
                    topics.retry_topic(uuid),
                ),
                consumer_config=_consumer_config(client_config, settings.kafka, uuid),
                batch=integration.batch,
                concurrency=integration.concurrency,
                ordering=integration.ordering,
                revoke_grace_s=settings.runtime.revoke_grace_ms / 1000,
                commit_interval_s=settings.runtime.commit_interval_ms / 1000,
                entity_type_of=topics.entity_type_of,
            ),
            handler=handler,
            decoder=decoder,
            per_record=invoker.per_record,
            metrics=self.metrics,
            logger=logger,
            on_assigned=lambda: _mapping_barrier(store, integration.name),
        )
        return _Integration(integration, driver, store, dead_letters, invoker, runner)

    # ------------------------------------------------------------------ stop ------------
    async def _close_after_failed_start(self) -> None:
        """Close what a start that failed half-way had built (best effort, never raises)."""
        if self._gauges is not None:
            self._gauges.cancel()
        for i in self._integrations:
            for close in (i.invoker.close, i.dead_letters.close, i.store.close):
                try:
                    await asyncio.to_thread(close)
                except Exception:
                    log.debug("closing after a failed start", exc_info=True)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("%s: stopping (again to abort)", sig.name)
            self._stop.set()
            return
        log.warning("%s again: aborting without waiting for in-flight work", sig.name)
        for i in self._integrations:
            i.runner.abort()
        logging.shutdown()
        os._exit(EXIT_ABORTED)

    async def _shutdown(self) -> None:
        if self._gauges is not None:
            self._gauges.cancel()
        grace = self.settings.runtime.shutdown_grace_ms / 1000
        await asyncio.gather(
            *(i.runner.stop(grace) for i in self._integrations), return_exceptions=True
        )
        for i in self._integrations:
            if i.task is not None:
                i.task.cancel()
                await asyncio.gather(i.task, return_exceptions=True)
        for i in self._integrations:
            try:
                await _call_hook(i.driver, "close")
            except Exception:
                log.exception("%s: driver close() failed", i.settings.name)
            i.invoker.close()
            await asyncio.to_thread(i.dead_letters.close)
            await asyncio.to_thread(i.store.close)
        log.info("stopped")


def _mapping_barrier(store: KafkaMappingStore, name: str) -> None:
    """Wait until this instance has read every mapping written so far (see the runner)."""
    if not store.sync(_SYNC_TIMEOUT_S):
        log.warning(
            "%s: mapping topic not read to its end within %.0fs after an assignment; mappings "
            "the previous owner wrote moments ago may be missed for a while",
            name,
            _SYNC_TIMEOUT_S,
        )


def _report_failure(name: str, task: asyncio.Task[None]) -> None:
    """Log an integration that stopped on an error, whenever it happens (even during a stop)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.critical("integration %s stopped: %s", name, error)


def _tune_garbage_collector() -> None:
    """Keep the collector from walking long-lived objects for every batch.

    The start-up leaves hundreds of thousands of objects (modules, pydantic validators,
    schemas) that live as long as the process; each decoded batch allocates tens of
    thousands of short-lived containers, which triggered full collections over all of them
    every few batches (~30 µs per record, measured with bench/runtime_bench.py). Freezing
    moves the start-up objects out of the collector's sight; a larger first generation
    lets a batch die young.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


async def _call_hook(driver: DriverContract, name: str) -> None:
    hook = getattr(driver, name, None)
    if hook is None:
        return
    result = hook()
    if inspect.isawaitable(result):
        await result


def _consumer_config(
    client_config: dict[str, str], kafka: KafkaSettings, integration_uuid: str
) -> dict[str, str]:
    """The integration consumer's client settings: static membership when configured."""
    config = dict(client_config)
    member = kafka.static_member_id(integration_uuid)
    if member is not None:
        config["group.instance.id"] = member
    return config
