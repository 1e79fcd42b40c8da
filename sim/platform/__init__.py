"""A fake NGSI-LD urban data platform: a real HTTP server that validates what it receives against the
NGSI-LD OpenAPI file and the Smart Data Models schemas, stores entities, and answers faults on demand."""

from sim.platform.faults import Fault
from sim.platform.server import FakePlatform

__all__ = ["FakePlatform", "Fault"]
