"""The demo's report code: verdict, table, stage runner, report file."""

from __future__ import annotations

import json

import pytest

from lightdom_tui.demo import (
    DemoReport,
    DemoStageError,
    ModelRow,
    _Runner,
    format_table,
    heldout_references_path,
    table_rows,
    verdict,
    write_report,
)


def _report(base_f1: float, tuned_f1: float, validity: float = 1.0) -> DemoReport:
    report = DemoReport(home="/x", started_at=0.0)
    report.models = [
        ModelRow("smollm2-135m-instruct", "base", "q4_1", 100 * 2**20, heldout={"f1": base_f1, "json_validity": 0.9}),
        ModelRow("tuned-q8_0", "tuned", "q8_0", 150 * 2**20, heldout={"f1": tuned_f1 + 0.01, "json_validity": 1.0}),
        ModelRow("tuned-q4_k_m", "tuned", "q4_k_m", 105 * 2**20, heldout={"f1": tuned_f1, "json_validity": validity},
                 validation={"f1": 0.5}),
    ]
    return report


def test_verdict_uses_the_q4_k_m_and_needs_full_validity():
    assert verdict(_report(0.10, 0.35))["target_met"] is True
    assert verdict(_report(0.10, 0.35))["gain"] == pytest.approx(0.25)
    assert verdict(_report(0.10, 0.25))["target_met"] is False  # +0.15 only
    assert verdict(_report(0.10, 0.40, validity=0.95))["target_met"] is False
    assert verdict(DemoReport(home="/x", started_at=0.0))["target_met"] is False


def test_table_rows_and_text():
    report = _report(0.1, 0.4)
    rows = table_rows(report)
    assert [r["quant"] for r in rows] == ["q4_1", "q8_0", "q4_k_m"]
    assert rows[2]["size_mb"] == 105.0 and rows[2]["validation_f1"] == 0.5
    text = format_table(report)
    assert "tuned-q4_k_m" in text and "0.400" in text


def test_runner_records_time_and_names_the_failed_stage():
    report = DemoReport(home="/x", started_at=0.0)
    runner = _Runner(report, log=lambda line: None)
    assert runner.stage("first", lambda: {"a": 1}) == {"a": 1}
    with pytest.raises(DemoStageError, match="demo stage 'second' failed: boom"):
        runner.stage("second", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert [(s.name, s.ok) for s in report.stages] == [("first", True), ("second", False)]
    assert report.stages[1].error == "boom" and report.stages[0].seconds >= 0


def test_write_report_is_json(tmp_path):
    class W:
        root = tmp_path

    path = write_report(W, _report(0.1, 0.4))
    data = json.loads(path.read_text())
    assert path == tmp_path / "training_data" / "exports" / "demo-report.json"
    assert data["models"][2]["version"] == "tuned-q4_k_m"
    assert heldout_references_path().is_file()
