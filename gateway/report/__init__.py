"""The inventory report (Action 11): figures computed from the store, and an HTML page with plots."""

from gateway.report.figures import compute
from gateway.report.html import render

__all__ = ["compute", "render"]
