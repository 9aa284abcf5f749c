"""`doctor` names the OpenMP wait policy llama.cpp runs under and advises PASSIVE only on a crowded box."""

from __future__ import annotations

import pytest

from lightdom_tui import doctor


@pytest.fixture
def box(monkeypatch: pytest.MonkeyPatch):
    """Set the box's 1-minute load and the policy in the environment (None: unset)."""

    def set_box(load: float, policy: str | None) -> None:
        monkeypatch.setattr(doctor.os, "getloadavg", lambda: (load, load, load))
        monkeypatch.setattr(doctor.os, "cpu_count", lambda: 2)
        if policy is None:
            monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
        else:
            monkeypatch.setenv("OMP_WAIT_POLICY", policy)

    return set_box


def test_idle_box_keeps_the_default_without_advice(box) -> None:
    box(0.3, None)
    assert doctor.openmp_wait() == {"omp_wait_policy": "default", "load_1m": 0.3}


def test_crowded_box_is_told_about_passive(box) -> None:
    box(5.0, None)
    report = doctor.openmp_wait()
    assert "OMP_WAIT_POLICY=PASSIVE" in report["omp_note"]
    assert "load 5.0 exceeds the 2 CPUs" in report["omp_note"]


def test_crowded_box_already_passive_gets_no_advice(box) -> None:
    box(5.0, "passive")
    assert doctor.openmp_wait() == {"omp_wait_policy": "PASSIVE", "load_1m": 5.0}
