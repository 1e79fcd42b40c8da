"""The HTML inventory report: one self-contained page, plots drawn by matplotlib and embedded as PNG."""

from __future__ import annotations

import base64
import datetime
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a gateway
import matplotlib.pyplot as plt


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars(title: str, counts: dict[str, float], xlabel: str = "devices") -> str:
    figure, axes = plt.subplots(figsize=(6, max(1.5, 0.35 * len(counts) + 1)))
    labels = list(counts) or ["(none)"]
    axes.barh(labels, [counts[k] for k in counts] or [0], color="#3b7dd8")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    return _png(figure)


def _growth(series: list[dict[str, Any]]) -> str:
    figure, axes = plt.subplots(figsize=(6, 3))
    days = [datetime.date.fromisoformat(point["day"]) for point in series]
    for state, colour in (
        ("total", "#333333"),
        ("active", "#2a9d57"),
        ("pending", "#e0a030"),
        ("retired", "#b04040"),
    ):
        axes.step(days, [point[state] for point in series], where="post", color=colour, label=state)
    if series:
        axes.legend(fontsize="small")
    axes.set_title("Devices known over time")
    axes.set_ylabel("devices")
    figure.autofmt_xdate()
    return _png(figure)


def _map(positions: list[dict[str, Any]]) -> str:
    """Positions on plain lon/lat axes coloured by site (no map tiles: the gateway has no internet)."""
    figure, axes = plt.subplots(figsize=(6, 5))
    sites = sorted({p["site"] for p in positions})
    for index, site in enumerate(sites):
        here = [p for p in positions if p["site"] == site]
        axes.scatter(
            [p["lon"] for p in here],
            [p["lat"] for p in here],
            s=14,
            label=site,
            color=plt.get_cmap("tab10")(index % 10),
        )
    axes.set_title("Device positions")
    axes.set_xlabel("longitude")
    axes.set_ylabel("latitude")
    axes.set_aspect("equal", adjustable="datalim")
    if sites:
        axes.legend(fontsize="small")
    return _png(figure)


def render(figures: dict[str, Any]) -> str:
    plots = [
        ("Devices by role", _bars("Devices by role", figures["by_role"])),
        ("Devices by site", _bars("Devices by site", figures["by_site"])),
        ("Devices by measured quantity", _bars("Devices by quantity", figures["by_quantity"])),
        ("Growth", _growth(figures["growth"])),
        (
            "Availability (approved devices online, by site)",
            _bars("Availability", figures["availability"]["by_site"], "share online"),
        ),
        (
            "Data completeness (received / expected, by site)",
            _bars("Data completeness", figures["completeness"]["by_site"], "share received"),
        ),
        ("Positions", _map(figures["positions"])),
    ]
    availability = figures["availability"]["ratio"]
    complete = figures["completeness"]["ratio"]
    summary = [
        ("Devices", figures["devices"]),
        ("By state", ", ".join("%s %d" % item for item in figures["by_state"].items()) or "-"),
        ("Availability", "-" if availability is None else "%.1f %%" % (100 * availability)),
        ("Data completeness", "-" if complete is None else "%.1f %%" % (100 * complete)),
        ("Located devices", len(figures["positions"])),
    ]
    stamp = datetime.datetime.fromtimestamp(figures["generated_at"], datetime.UTC).isoformat(
        timespec="seconds"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Reverbère inventory report</title>",
        (
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td,th{padding:2px 8px;text-align:left}"
            "</style></head><body>"
        ),
        "<h1>Sensor-network inventory</h1><p>Generated %s</p><table>" % html.escape(stamp),
    ]
    parts += ["<tr><th>%s</th><td>%s</td></tr>" % (html.escape(k), html.escape(str(v))) for k, v in summary]
    parts.append("</table>")
    for title, png in plots:
        parts.append(
            "<h2>%s</h2><img alt='%s' src='data:image/png;base64,%s'>"
            % (html.escape(title), html.escape(title), png)
        )
    parts.append("</body></html>")
    return "\n".join(parts)
