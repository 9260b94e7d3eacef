"""`contracts` depends on pydantic only: it imports with no Kafka client and no runtime."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = ("confluent_kafka", "aiokafka", "connector", "fastavro", "orjson", "pytest", "httpx")

PROBE = textwrap.dedent(
    f"""
    import importlib.abc
    import sys

    BLOCKED = {BLOCKED!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked import of {{name}}")
            return None

    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]
    sys.meta_path.insert(0, Blocker())

    import contracts
    import contracts.testing
    import contracts.classification
    from contracts.testing import InMemoryMappingService, make_mutation

    service = InMemoryMappingService()
    service.create("product", "u", "i", "e", None)
    assert make_mutation("product").entity_type == "product"
    loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))
    assert not loaded, loaded
    print("ok")
    """
)


def test_contracts_and_its_testing_kit_import_without_kafka_clients_connector_or_pytest() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_probe_really_blocks_imports() -> None:
    probe = PROBE.replace("import contracts\n", "import contracts\nimport confluent_kafka\n", 1)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode != 0
    assert "blocked import of confluent_kafka" in result.stderr
