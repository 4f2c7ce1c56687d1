"""ops2: the Prometheus alert rules load, each alert fires on a failing synthetic series and stays silent on a
healthy one (`promtool test rules`), links its runbook section, and reads metrics that someone writes."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from identity import ca

from deploy.monitoring.certificate_metrics import certificate_metrics

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
RULES = sorted((MONITORING / "rules").glob("*.yml"))
RULE_TESTS = sorted((MONITORING / "tests").glob("*.test.yml"))
RUNBOOK = REPO / "docs" / "operations.md"
METRIC = re.compile(r"\b(yui_[a-z_]+?)(?:_bucket|_count|_sum)?\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: apt-get install prometheus (.ci/run installs it)")
    return subprocess.run(
        [found, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120, check=False
    )


def alerts() -> dict[str, dict[str, Any]]:
    found = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors: the heading in lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text)))
    return anchors


def test_ops2_promtool_accepts_every_rule_file() -> None:
    checked = promtool("check", "rules", *(str(p) for p in RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ops2_every_alert_fires_on_a_failing_series_and_stays_silent_on_a_healthy_one() -> None:
    tested = promtool("test", "rules", *(str(p.relative_to(MONITORING)) for p in RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    fired, silent = set(), set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert set(alerts()) - fired == set(), "alerts no test shows firing"
    assert set(alerts()) - silent == set(), "alerts no test shows staying silent"


def test_ops2_every_alert_links_a_section_of_the_runbook() -> None:
    anchors = heading_anchors(RUNBOOK.read_text())
    for name, rule in alerts().items():
        link = rule["annotations"]["runbook_url"]
        page, _, anchor = link.partition("#")
        assert page == "docs/operations.md" and anchor in anchors, (name, link)
        assert rule["labels"]["severity"] in ("warning", "critical"), name


def test_ops2_rules_and_dashboard_read_metrics_that_are_written_or_announced() -> None:
    """A rule on a metric nobody exports never fires: every yui_* name is written by our code, or is listed in
    the runbook's table of metrics still to be introduced."""
    written = "\n".join(
        path.read_text()
        for path in (
            REPO / "libs" / "common" / "src" / "yui_common" / "metrics.py",
            REPO / "libs" / "common" / "src" / "yui_common" / "audit_seal" / "sealer.py",
            REPO / "services" / "consent" / "src" / "consent" / "withdrawals" / "metrics.py",
            REPO / "deploy" / "backup" / "backup.py",
            MONITORING / "certificate_metrics.py",
        )
    )
    runbook = RUNBOOK.read_text()
    # Only the rows still marked "to be introduced": a row saying "exists" must be backed by code above.
    announced = "\n".join(
        line
        for line in runbook[runbook.index("## Metrics the alerts read") :].splitlines()
        if line.rstrip().endswith("| to be introduced |")
    )
    expressions = [
        rule["expr"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    used = set(METRIC.findall("\n".join(expressions)))
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= set(METRIC.findall(target["expr"]))
    assert used, "no yui_ metric found: the pattern is wrong"
    for metric in sorted(used):
        assert f'"{metric}"' in written or f"{metric} " in written or f"`{metric}`" in announced, metric


def test_ops2_certificate_metrics_read_the_gateways_ca_and_crl() -> None:
    authority = ca.create_root("Yui monitoring test CA")
    revoked = [ca.RevokedSerial(7, dt.datetime.now(dt.UTC), "terminal_lost")]
    crl = ca.build_crl(authority, revoked, crl_number=1, valid_for=dt.timedelta(hours=168))
    text = certificate_metrics(
        ca.certificate_pem(authority.certificate).encode(), crl.public_bytes(Encoding.PEM)
    )
    values = {
        line.split()[0]: float(line.split()[1]) for line in text.splitlines() if not line.startswith("#")
    }
    assert values["yui_certificate_authority_not_after_timestamp_seconds"] == pytest.approx(
        authority.certificate.not_valid_after_utc.timestamp()
    )
    assert values["yui_crl_this_update_timestamp_seconds"] == pytest.approx(crl.last_update_utc.timestamp())
    assert crl.next_update_utc is not None
    assert values["yui_crl_next_update_timestamp_seconds"] == pytest.approx(crl.next_update_utc.timestamp())
    assert values["yui_crl_revoked_certificates"] == 1
