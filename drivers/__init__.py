"""Drivers shipped with the project, each its own subpackage, registered through the
``iec.drivers`` entry-point group exactly like third-party drivers."""
