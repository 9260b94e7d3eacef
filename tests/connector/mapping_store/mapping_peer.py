"""A second process holding a `KafkaMappingStore` of the same integration (driven by a test).

    python mapping_peer.py <bootstrap> <topic> <integration_uuid>

Reads one JSON command per line on stdin and answers one JSON line on stdout:
``{"op": "create", "type", "uuid", "external_id"}`` → ``{"acked_at": <unix s>}``;
``{"op": "wait", "type", "uuid", "timeout"}`` → ``{"seen_at": <unix s> | null}``;
``{"op": "find", "type", "uuid"}`` → ``{"external_id": ... | null}``; ``{"op": "exit"}``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from connector.mapping_store import KafkaMappingStore


def _answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main(bootstrap: str, topic: str, integration: str) -> None:
    store = KafkaMappingStore(
        integration_uuid=integration, topic=topic, client_config={"bootstrap.servers": bootstrap}
    )
    store.start(timeout_s=60)
    _answer({"ready": True, "mappings": store.count()})
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "create":
            store.create(
                command["type"], command["uuid"], integration, command["external_id"], None
            )
            _answer({"acked_at": time.time()})
        elif op == "wait":
            deadline = time.monotonic() + command["timeout"]
            seen_at = None
            while time.monotonic() < deadline:
                if store.find(command["type"], command["uuid"], integration) is not None:
                    seen_at = time.time()
                    break
                time.sleep(0.0005)
            _answer({"seen_at": seen_at})
        elif op == "find":
            found = store.find(command["type"], command["uuid"], integration)
            _answer({"external_id": None if found is None else found.external_id})
        elif op == "exit":
            break
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
