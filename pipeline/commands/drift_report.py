"""``monitor``'s HTML report: one self-contained page (inline CSS and SVG, no script, no link), so
that it opens offline, from MLflow's artifact view or an e-mail alike."""

from __future__ import annotations

import html
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.drift{background:#fde2e1}.ok{background:#e3f5e1}.verdict{font-size:1.2em;padding:.6em;border-radius:4px}
small{color:#666}
"""


def _svg_histogram(histogram: dict[str, list[float]]) -> str:
    """Two bar series in the same bins: the reference split (grey) and the batch (red, translucent)."""
    width, height = 240, 60
    bins = len(histogram["reference"])
    top = max([*histogram["reference"], *histogram["batch"], 1e-9])
    bars = []
    for series, colour in (("reference", "#999"), ("batch", "rgba(214,39,40,.55)")):
        for i, share in enumerate(histogram[series]):
            h = height * share / top
            x = i * width / bins
            bars.append(
                f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{width / bins - 1:.1f}" '
                f'height="{h:.1f}" fill="{colour}"/>'
            )
    low, high = histogram["edges"][0], histogram["edges"][-1]
    return (
        f'<svg width="{width}" height="{height + 14}" role="img">{"".join(bars)}'
        f'<text x="0" y="{height + 12}" font-size="10">{low:.3g}</text>'
        f'<text x="{width}" y="{height + 12}" font-size="10" text-anchor="end">{high:.3g}</text></svg>'
    )


def _details(test: dict[str, Any]) -> str:
    details = test["details"]
    if "histogram" in details:
        means = f"mean {details['reference_mean']:.4g} → {details['batch_mean']:.4g}; "
        shift = f"Wasserstein {details['wasserstein_in_std']:.3g} std"
        return _svg_histogram(details["histogram"]) + f"<br><small>{means}{shift}</small>"
    shares = details.get("shares") or details.get("most_shifted") or {}
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{v['reference']:.1%}</td><td>{v['batch']:.1%}</td></tr>"
        for k, v in list(shares.items())[:12]
    )
    new = details.get("new_categories") or {}
    extra = f"<br><small>new: {html.escape(str(new))}</small>" if new else ""
    head = "<tr><th></th><th>reference</th><th>batch</th></tr>"
    return f"<table>{head}{rows}</table>{extra}" if rows else extra


def render_html(report: dict[str, Any]) -> str:
    """The page: the verdict, then one row per test with its statistic, p-value and figure."""
    verdict = report["verdict"]
    state = "drift" if verdict["drift"] else "ok"
    said = "; ".join(verdict["reasons"]) or "no drift past the thresholds"
    rows = []
    for test in report["tests"]:
        cls = "drift" if test["drifted"] else "ok"
        rows.append(
            f'<tr class="{cls}"><td>{html.escape(test["column"])}</td><td>{html.escape(test["measure"])}'
            f"</td><td>{test['test']}</td><td>{test['statistic']:.4g}</td><td>{test['p_value']:.3g}</td>"
            f"<td>{'drift' if test['drifted'] else 'no'}</td><td>{_details(test)}</td></tr>"
        )
    settings = ", ".join(f"{k}: {v}" for k, v in report["settings"].items())
    title = html.escape(f"Drift: {report['task']} — {report['batch']['source']}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f'<p class="verdict {state}">{"Drift" if verdict["drift"] else "No drift"}: {html.escape(said)}</p>'
        f"<p>Model {html.escape(report['model'])}; reference: {report['reference']['rows']} rows "
        f"of split {html.escape(str(report['reference'].get('split', '?')))} "
        f"(seeded sample of {html.escape(report['reference']['source'])}); batch: "
        f"{report['batch']['rows']} rows, {report['batch']['invalid_rows']} the model refused.<br>"
        f"<small>monitor settings: {html.escape(settings)}; created {report['created']}</small></p>"
        "<table><tr><th>column</th><th>measure</th><th>test</th><th>statistic</th><th>p-value</th>"
        f"<th>drift</th><th>reference (grey) vs batch (red)</th></tr>{''.join(rows)}</table></body></html>"
    )
