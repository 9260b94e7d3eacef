"""The seed's ExampleDriver: a harmless first-party demo driver (no network)."""

from drivers.example.driver import ExampleDriver

__all__ = ["ExampleDriver"]
