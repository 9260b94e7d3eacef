"""A test kit for driver authors: no Kafka, no runtime.

* `InMemoryMappingService` — the mapping service, in a dict, with counters.
* `MutationFactory`, `make_mutation`, `lifecycle`, `mixed_batch` and payload builders
  (`sample_payload`, `empty_payload`, `unicode_payload`, `large_payload`, `malformed_payload`).
* `DriverHarness` / `run_handle_batch` — bind and call a driver like the runtime, sync or async.
* `contracts.testing.checks` — the contract as plain checks, and
  `contracts.testing.suite.DriverContractSuite` — the same as a pytest test class to subclass.
  (Only the suite imports pytest, so importing this package does not.)
"""

from contracts.testing.factories import (
    MutationFactory,
    empty_payload,
    large_payload,
    lifecycle,
    make_mutation,
    malformed_payload,
    mixed_batch,
    sample_payload,
    unicode_payload,
)
from contracts.testing.harness import (
    TEST_INTEGRATION_UUID,
    DriverHarness,
    ahandle_batch,
    make_context,
    run_handle_batch,
)
from contracts.testing.mapping_service import InMemoryMappingService, MappingKey

__all__ = [
    "TEST_INTEGRATION_UUID",
    "DriverHarness",
    "InMemoryMappingService",
    "MappingKey",
    "MutationFactory",
    "ahandle_batch",
    "empty_payload",
    "large_payload",
    "lifecycle",
    "make_context",
    "make_mutation",
    "malformed_payload",
    "mixed_batch",
    "run_handle_batch",
    "sample_payload",
    "unicode_payload",
]
