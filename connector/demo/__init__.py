"""The demo: a sample catalogue published and run through the connector, end to end.

`plan_demo` decides a run (unique topics, one integration of the target's driver, the
catalogue); a `DemoTarget` (`connector.demo.targets`) names the driver and its downstream;
`publish_mutations` publishes it; `run_until_caught_up` runs the connector in-process until
every mutation is handled; `committed_lag`/`stored_mappings` read back what survives;
`DemoSummary` says whether the run is correct. `iec-connector demo` puts them together.
"""

from connector.demo.broker_state import committed_lag, delete_run, stored_mappings
from connector.demo.catalogue import CatalogueShape, product_payload, sample_catalogue
from connector.demo.connector_run import ConnectorRun, RunPhase, run_until_caught_up
from connector.demo.figures import IntegrationFigures, read_figures
from connector.demo.plan import (
    DEFAULT_PRODUCTS,
    DEMO_DRIVER_CONFIG,
    DemoPlan,
    demo_registry,
    plan_demo,
)
from connector.demo.publishing import PublishOutcome, publish_mutations
from connector.demo.summary import DemoSummary, render_summary
from connector.demo.targets import (
    DEMO_TARGETS,
    DemoOptions,
    DemoTarget,
    ExampleTarget,
    TargetReport,
    demo_target,
)

__all__ = [
    "DEFAULT_PRODUCTS",
    "DEMO_DRIVER_CONFIG",
    "DEMO_TARGETS",
    "CatalogueShape",
    "ConnectorRun",
    "DemoOptions",
    "DemoPlan",
    "DemoSummary",
    "DemoTarget",
    "ExampleTarget",
    "IntegrationFigures",
    "PublishOutcome",
    "RunPhase",
    "TargetReport",
    "committed_lag",
    "delete_run",
    "demo_registry",
    "demo_target",
    "plan_demo",
    "product_payload",
    "publish_mutations",
    "read_figures",
    "render_summary",
    "run_until_caught_up",
    "sample_catalogue",
    "stored_mappings",
]
