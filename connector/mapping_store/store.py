"""`KafkaMappingStore`: the mapping service of one integration, on a compacted topic.

Every instance holds the whole topic in memory (a global table: drivers look up mappings of
other entity types and other partitions), restores it before work starts, keeps tailing it
for writes of other instances, and writes durably: a mapping is acknowledged by the broker
(``acks=all``, idempotent producer) before the call that wrote it returns, so a crash after
an external create never leads to a second create on replay.

The store is a thin service over three parts: the `MappingView` (the in-memory state and its
ordering rule), a `MappingTailReader` (restore, tail, the `sync` read barrier; one thread) and
a `MappingWriter` (writes of one call produced together with one wait, applied to the view
once acknowledged; one delivery thread, started by the first write). It implements the
contracts' `EntityMappingService`, `MappingServiceExtensions` and `AsyncMappingService`:
lookups answer from memory (lock-free, decoded values cached), so the awaitable lookups
answer at once; the awaitable writes never block the event loop.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from connector.codec.errors import CodecError
from connector.mapping_store.changes import ChangeSet
from connector.mapping_store.reader import MappingTailReader
from connector.mapping_store.record import MappingRecord, decode_record, split_key, to_mapping_data
from connector.mapping_store.view import MappingView
from connector.mapping_store.writer import MappingWriter
from connector.metrics import METRICS, ConnectorMetrics
from contracts import IntegrationError, MappingData, NewMapping

__all__ = ["KafkaMappingStore", "MappingStoreStats"]


@dataclass(frozen=True, slots=True)
class MappingStoreStats:
    """A snapshot for metrics and health: counts, restore figures, tail position and lag."""

    integration_uuid: str
    topic: str
    ready: bool
    mappings: int
    restore_seconds: float | None
    restored_records: int
    rejected_records: int
    undecodable_values: int
    applied_offsets: dict[int, int]
    tail_lag_records: int
    pending_own_writes: int
    writes: int
    write_failures: int


class KafkaMappingStore:
    """Mappings of one integration, kept in a compacted topic and held in memory.

    Lifecycle: `start` (check/create the topic, restore, then tail) → use → `close`. Lookups
    and writes before the restore finished raise `TransientError`; `ready` tells when.
    A failed write raises `TransientError`, `PermanentError` or `ConfigurationError` (by the
    Kafka error's family) and leaves the view unchanged.
    """

    def __init__(
        self,
        *,
        integration_uuid: str,
        topic: str,
        client_config: Mapping[str, str | int | float | bool],
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
        replication_factor: int | None = None,
        write_timeout_s: float = 30.0,
        decode_cache_size: int = 16_384,
        fetch_batch: int = 10_000,
        metrics: ConnectorMetrics = METRICS,
    ) -> None:
        """`client_config`: librdkafka settings common to all clients (bootstrap servers,
        security). `clock`: wall-clock seconds for the records' timestamps.
        `replication_factor`: for a topic this store creates (None: the broker's default).
        `write_timeout_s`: a write not acknowledged in that time raises `TransientError`."""
        if not integration_uuid:
            raise ValueError("integration_uuid must be non-empty")
        self._integration_uuid = integration_uuid
        self._topic = topic
        self._clock = clock
        self._log = logging.LoggerAdapter(
            logger or logging.getLogger(__name__),
            {"integration": integration_uuid, "topic": topic},
        )
        self._view = MappingView()
        self._get = self._view.get
        self._decode = functools.lru_cache(maxsize=decode_cache_size)(to_mapping_data)
        self._reader = MappingTailReader(
            topic=topic,
            view=self._view,
            client_config=client_config,
            logger=self._log,
            name=f"mapping-tail-{integration_uuid}",
            replication_factor=replication_factor,
            fetch_batch=fetch_batch,
        )
        self._writer = MappingWriter(
            topic=topic,
            view=self._view,
            client_config=client_config,
            logger=self._log,
            name=f"mapping-writes-{integration_uuid}",
            integration_uuid=integration_uuid,
            metrics=metrics,
            write_timeout_s=write_timeout_s,
        )
        self._counter_lock = threading.Lock()
        self.undecodable_values = 0

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def integration_uuid(self) -> str:
        return self._integration_uuid

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def ready(self) -> bool:
        """True once the restore finished, while the tail is healthy and the store open."""
        return self._reader.ready

    @property
    def failure(self) -> IntegrationError | None:
        """Why the tail stopped, if it did (the store is then no longer `ready`)."""
        return self._reader.failure

    @property
    def writer(self) -> MappingWriter:
        """The writer, for its counters (`flushes`, `writes`, `write_failures`)."""
        return self._writer

    def ensure_topic(self, create: bool = True, *, timeout_s: float = 30.0) -> bool:
        """Create the mapping topic if missing (when `create`), and refuse one that is not
        compacted with `ConfigurationError`. Returns True if this call created it."""
        return self._reader.ensure_topic(create, timeout_s=timeout_s)

    def start(
        self, timeout_s: float | None = 60.0, *, create_topic: bool = True, follow: bool = True
    ) -> None:
        """Check the topic, restore it, then keep tailing (`MappingTailReader.start`); the
        writer's producer starts meanwhile, so the first write does not wait for it."""
        self._reader.start(None, create_topic=create_topic, follow=follow)
        if follow:
            self._writer.warm_up()
        if timeout_s is not None:
            self._reader.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Block until restored; raise the restore's error, or `TransientError` on timeout
        (the restore goes on: call again)."""
        self._reader.wait_ready(timeout_s)

    def sync(self, timeout_s: float = 10.0) -> bool:
        """Wait until the tail has applied everything on the topic now (a read barrier).

        Call it when partitions were just assigned to this instance: writes their previous
        owner made moments before are then visible. False if not reached within `timeout_s`.
        """
        return self._reader.sync(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop tailing, wait for outstanding writes, release the clients. Idempotent."""
        if self._reader.closed:
            return
        self._reader.close(timeout_s)
        self._writer.close(timeout_s)

    def __enter__(self) -> KafkaMappingStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- EntityMappingService and MappingServiceExtensions --------------------------------

    def find(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> MappingData | None:
        """The mapping of one entity, or None. Lock-free; decoded values are cached.

        Raises `CodecError` (a `PermanentError`) if the stored value is unreadable.
        """
        if integration_uuid != self._integration_uuid:
            self._wrong_integration(integration_uuid)
        if not self._reader.ready:
            self._reader.not_ready()
        value = self._get(f"{entity_type}:{entity_uuid}".encode())
        if value is None:
            return None
        try:
            return self._decode(value)
        except CodecError as exc:
            self._count_undecodable()
            self._log.error(
                "undecodable mapping value",
                extra={
                    "entity_type": entity_type,
                    "entity_uuid": entity_uuid,
                    "reason": exc.reason,
                },
            )
            raise

    def find_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]:
        """Mappings of several entities of one type, keyed by UUID; missing ones are absent."""
        found: dict[str, MappingData] = {}
        find = self.find
        for entity_uuid in entity_uuids:
            mapping = find(entity_type, entity_uuid, integration_uuid)
            if mapping is not None:
                found[entity_uuid] = mapping
        return found

    def create(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """Record (or overwrite) a mapping; returns once the broker acknowledged it.

        Keeps `created_at` when the external id is unchanged.
        """
        changes = self._changes(integration_uuid)
        changes.create(entity_type, entity_uuid, external_id, external_data)
        self._writer.write(changes.changes)

    def delete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool:
        """Remove a mapping (tombstone); True if there was one. Durable on return."""
        changes = self._changes(integration_uuid)
        existed = changes.delete(entity_type, entity_uuid)
        self._writer.write(changes.changes)
        return existed

    def update_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """Replace the external data of an existing mapping (KeyError if there is none)."""
        changes = self._changes(integration_uuid)
        changes.update(entity_type, entity_uuid, external_data)
        self._writer.write(changes.changes)

    def create_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        """Record several mappings: produced together, one wait. Durable on return."""
        self._writer.write(self._creates(mappings, integration_uuid).changes)

    def delete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int:
        """Remove several mappings with one wait; returns how many existed."""
        changes, existed = self._deletes(entity_type, entity_uuids, integration_uuid)
        self._writer.write(changes.changes)
        return existed

    # -- AsyncMappingService ---------------------------------------------------------------

    async def afind(
        self, entity_type: str, entity_uuid: str, integration_uuid: str
    ) -> MappingData | None:
        """`find`: answered from memory at once."""
        return self.find(entity_type, entity_uuid, integration_uuid)

    async def afind_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> dict[str, MappingData]:
        """`find_many`: answered from memory at once."""
        return self.find_many(entity_type, entity_uuids, integration_uuid)

    async def acreate(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_id: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """`create`, awaited without blocking the loop; concurrent calls share batches."""
        changes = self._changes(integration_uuid)
        changes.create(entity_type, entity_uuid, external_id, external_data)
        await self._writer.awrite(changes.changes)

    async def acreate_many(self, mappings: Iterable[NewMapping], integration_uuid: str) -> None:
        """`create_many`, awaited: all produced together, one wait."""
        await self._writer.awrite(self._creates(mappings, integration_uuid).changes)

    async def adelete(self, entity_type: str, entity_uuid: str, integration_uuid: str) -> bool:
        """`delete`, awaited."""
        changes = self._changes(integration_uuid)
        existed = changes.delete(entity_type, entity_uuid)
        await self._writer.awrite(changes.changes)
        return existed

    async def adelete_many(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> int:
        """`delete_many`, awaited: one wait."""
        changes, existed = self._deletes(entity_type, entity_uuids, integration_uuid)
        await self._writer.awrite(changes.changes)
        return existed

    async def aupdate_external_data(
        self,
        entity_type: str,
        entity_uuid: str,
        integration_uuid: str,
        external_data: Mapping[str, Any] | None,
    ) -> None:
        """`update_external_data`, awaited."""
        changes = self._changes(integration_uuid)
        changes.update(entity_type, entity_uuid, external_data)
        await self._writer.awrite(changes.changes)

    # -- export and metrics --------------------------------------------------------------

    def record(self, entity_type: str, entity_uuid: str) -> MappingRecord | None:
        """The full record of one mapping (with timestamps), for tools; raises `CodecError`."""
        if not self._reader.ready:
            self._reader.not_ready()
        value = self._get(f"{entity_type}:{entity_uuid}".encode())
        return None if value is None else decode_record(value)

    def count(self) -> int:
        """Number of mappings held."""
        return len(self._view)

    def iter_mappings(self) -> Iterator[tuple[str, str, MappingRecord]]:
        """(entity_type, entity_uuid, record) of every mapping, from a snapshot taken now.

        Undecodable values are logged, counted and skipped.
        """
        for key, value in self._view.snapshot().items():
            try:
                entity_type, entity_uuid = split_key(key)
                record = decode_record(value)
            except (CodecError, ValueError) as exc:
                self._count_undecodable()
                self._log.error(
                    "undecodable mapping skipped in export",
                    extra={"key": key.decode("utf-8", "replace"), "error": str(exc)},
                )
                continue
            yield entity_type, entity_uuid, record

    @property
    def restore_seconds(self) -> float | None:
        """Duration of the restore (None until it finished)."""
        return self._reader.restore_seconds

    @property
    def restored_records(self) -> int:
        """Records read during the restore (live mappings plus superseded ones and tombstones)."""
        return self._reader.restored_records

    @property
    def tail_lag_records(self) -> int:
        """Records on the topic the tail has not read yet (from the last fetch's high watermark)."""
        return self._reader.tail_lag_records

    @property
    def writes(self) -> int:
        """Mapping writes acknowledged."""
        return self._writer.writes

    @property
    def write_failures(self) -> int:
        """Mapping writes that failed."""
        return self._writer.write_failures

    @property
    def rejected_records(self) -> int:
        """Records on the topic that are not mapping records (skipped when applied)."""
        return self._view.rejected_total

    def applied_offsets(self) -> dict[int, int]:
        """Next offset to apply, per partition."""
        return self._view.positions()

    def stats(self) -> MappingStoreStats:
        return MappingStoreStats(
            integration_uuid=self._integration_uuid,
            topic=self._topic,
            ready=self.ready,
            mappings=len(self._view),
            restore_seconds=self.restore_seconds,
            restored_records=self.restored_records,
            rejected_records=self._view.rejected_total,
            undecodable_values=self.undecodable_values,
            applied_offsets=self._view.positions(),
            tail_lag_records=self.tail_lag_records,
            pending_own_writes=self._view.pending_count(),
            writes=self.writes,
            write_failures=self.write_failures,
        )

    # -- internals -----------------------------------------------------------------------

    def _wrong_integration(self, integration_uuid: str) -> NoReturn:
        raise ValueError(
            f"this mapping store belongs to integration {self._integration_uuid}, "
            f"not {integration_uuid}"
        )

    def _changes(self, integration_uuid: str) -> ChangeSet:
        """A change set for one write call, after the checks every write makes."""
        if integration_uuid != self._integration_uuid:
            self._wrong_integration(integration_uuid)
        if not self._reader.ready:
            self._reader.not_ready()
        return ChangeSet(self._get, int(self._clock() * 1000))

    def _creates(self, mappings: Iterable[NewMapping], integration_uuid: str) -> ChangeSet:
        changes = self._changes(integration_uuid)
        for m in mappings:
            changes.create(m.entity_type, m.entity_uuid, m.external_id, m.external_data)
        return changes

    def _deletes(
        self, entity_type: str, entity_uuids: Iterable[str], integration_uuid: str
    ) -> tuple[ChangeSet, int]:
        changes = self._changes(integration_uuid)
        existed = sum(changes.delete(entity_type, uuid) for uuid in dict.fromkeys(entity_uuids))
        return changes, existed

    def _count_undecodable(self) -> None:
        with self._counter_lock:
            self.undecodable_values += 1
