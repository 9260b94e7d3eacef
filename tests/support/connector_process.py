"""Run the connector like `iec-connector run --config FILE`, with the test drivers registered.

Usage: python tests/support/connector_process.py CONFIG
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from downstream_driver import DownstreamDriver
from leaky_driver import LeakyDriver
from recording_driver import AsyncRecordingDriver, RecordingDriver
from timed_driver import SyncTimedBatchDriver, SyncTimedDriver, TimedDriver

from connector.cli.run_cmd import run_with_registry
from connector.driver_registry import DriverRegistry
from drivers.example import ExampleDriver

REGISTRY = DriverRegistry.from_classes(
    {
        "recording": RecordingDriver,
        "recording-async": AsyncRecordingDriver,
        "example": ExampleDriver,
        "downstream": DownstreamDriver,
        "timed": TimedDriver,
        "timed-sync": SyncTimedDriver,
        "timed-sync-batch": SyncTimedBatchDriver,
        "leaky": LeakyDriver,
    }
)

if __name__ == "__main__":
    sys.exit(run_with_registry(Path(sys.argv[1]), REGISTRY))
