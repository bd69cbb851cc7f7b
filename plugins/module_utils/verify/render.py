# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment report as text: fixed-width table lines (task output) and a Markdown document."""

from __future__ import annotations


def promotion_text(record):
    if not record:
        return "none recorded"
    if "error" in record:
        return record["error"]
    return "%s -> %s, %s, by %s at %s" % (record.get("from"), record.get("to"), record.get("result"),
                                          record.get("who"), record.get("when"))


def text_table(report):
    """The report as fixed-width text lines (for the task output)."""
    header = ("Feature", "Inventory wants", "Live", "Drift")
    lines_data = [header] + [(r["feature"], r["wanted"], r["live"], "DRIFT" if r["drift"] else "") for r in report["rows"]]
    widths = [max(len(str(line[i])) for line in lines_data) for i in range(4)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    lines = ["%s (namespace %s): %s" % (report["environment"], report["namespace"],
                                        "Ready" if report["ready"] else "NOT READY")]
    lines.append((fmt % header).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines.extend((fmt % line).rstrip() for line in lines_data[1:])
    if report["drift"]:
        lines.append("drift: %s" % ", ".join(report["drift"]))
    for problem in report["problems"]:
        lines.append("not ready: %s" % problem)
    lines.append("last promotion: %s" % promotion_text(report.get("last_promotion")))
    return lines


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report):
    """The report as a Markdown document."""
    out = ["# Environment report: %s" % report["environment"], ""]
    out.append("- Namespace: `%s`" % report["namespace"])
    if report.get("generated_at"):
        out.append("- Generated: %s" % report["generated_at"])
    out.append("- Status: **%s**" % ("Ready" if report["ready"] else "NOT READY"))
    out.append("- Drift: %s" % (", ".join(report["drift"]) if report["drift"] else "none"))
    out.append("- Last promotion: %s" % _md(promotion_text(report.get("last_promotion"))))
    out += ["", "| Feature | Inventory wants | Live | Drift | Live source |", "| --- | --- | --- | --- | --- |"]
    for r in report["rows"]:
        out.append("| %s | %s | %s | %s | %s |" % (
            _md(r["feature"]), _md(r["wanted"]), _md(r["live"]), "**DRIFT**" if r["drift"] else "", _md(r["live_source"])))
    out += ["", "## Readiness", "", "| Object | Ready | Reason | Message |", "| --- | --- | --- | --- |"]
    for item in report["objects"]:
        out.append("| %s | %s | %s | %s |" % (_md(item["object"]), "yes" if item["ready"] else "**no**",
                                              _md(item["reason"]), _md(item["message"])))
    for problem in report["problems"]:
        if problem.startswith("no "):
            out.append("")
            out.append("- %s" % problem)
    return "\n".join(out) + "\n"
