"""The demo's ``--driver webhook`` target: the catalogue POSTed to a local signed-webhook
receiver (`connector.demo.webhook_receiver`), each mutation signed by the Standard Webhooks
specification with a secret made for the run; the receiver's id becomes the mapping.

The report shows what the receiver got (requests, verified signatures, repeated message
ids it dropped) and compares the entities it holds with the last mutation published for
each (a deleted entity is held as its deletion).
"""

from __future__ import annotations

import base64
import os
from typing import Any

from rich.table import Table

from connector.demo.targets import DemoOptions, TargetReport
from connector.demo.webhook_receiver import DemoReceiver
from contracts import DriverContract, MutationData, Operation
from drivers.webhook import WebhookDriver

__all__ = ["WebhookTarget"]


class WebhookTarget:
    name = "webhook"
    driver_type = "webhook"

    def __init__(self, options: DemoOptions) -> None:
        self.driver_class: type[DriverContract] = WebhookDriver
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.receiver: DemoReceiver | None = None

    def describe(self) -> str:
        where = self.receiver.url if self.receiver else "a local port"
        return f"the webhook driver into a local Standard Webhooks receiver at {where}"

    def start(self) -> None:
        self.receiver = DemoReceiver(self.secret).start()

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()

    def driver_config(self) -> dict[str, Any]:
        if self.receiver is None:
            raise RuntimeError("WebhookTarget.start() first")
        return {
            "url": self.receiver.url,
            "secrets": [self.secret],
            "external_id_pointer": "/id",
            "max_concurrent_requests": 16,
        }

    def integration_settings(self) -> dict[str, Any]:
        return {}

    def expected_mappings(self, mutations: tuple[MutationData, ...], live: int) -> int:
        return live  # one per entity the receiver answered for; deletions remove theirs

    def phases(self, mutations: tuple[MutationData, ...]) -> list[tuple[MutationData, ...]]:
        return [mutations]

    def report(self, mutations: tuple[MutationData, ...]) -> TargetReport | None:
        if self.receiver is None:
            return None
        figures = self.receiver.figures
        last: dict[str, MutationData] = {}
        for mutation in mutations:
            last[mutation.entity_uuid] = mutation
        problems: list[str] = []
        if figures.rejected:
            problems.append(f"{figures.rejected} request(s) failed signature verification")
        for uuid, mutation in last.items():
            held = figures.entities.get(uuid)
            if held is None:
                problems.append(f"{mutation.entity_type} {uuid}: never received")
            elif held["version"] != mutation.version or held["operation"] != mutation.operation:
                problems.append(f"{mutation.entity_type} {uuid}: holds version {held['version']}")
        view = Table(title="What the receiver holds", title_justify="left")
        for column in ("entity type", "entities", "live", "deleted"):
            view.add_column(column, justify="left" if column == "entity type" else "right")
        for entity_type in sorted({m.entity_type for m in mutations}):
            held_here = [d for d in figures.entities.values() if d["entity_type"] == entity_type]
            deleted = sum(1 for d in held_here if d["operation"] == Operation.DELETED.value)
            view.add_row(
                entity_type, str(len(held_here)), str(len(held_here) - deleted), str(deleted)
            )
        view.caption = (
            f"{figures.requests} requests, {figures.verified} signatures verified, "
            f"{figures.duplicates} repeated message ids dropped, {figures.rejected} rejected"
        )
        return TargetReport(view, problems[:10])
