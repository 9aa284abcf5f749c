"""A/B tests: deterministic assignment, split ratio, statistics against a hand-computed case."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from lightdom_tui.errors import LightdomError
from lightdom_tui.registry import ab
from lightdom_tui.registry.routing import ab_salt, assign_arm, choose_route
from lightdom_tui.registry.stats import percentile, two_proportion_z, wilson_interval
from lightdom_tui.registry.versions import get_version


def test_same_key_same_arm_and_split_over_10000_keys(workspace, versions):
    test = ab.create_ab_test(workspace, "v1", "v2", split=0.3, task_types=["graphics"])
    arms = {i: assign_arm(f"user-{i}", 0.3, ab_salt(test.id)) for i in range(10_000)}
    with workspace.session() as s:
        for i in range(0, 10_000, 20):  # the router's decision is that same hash, twice over
            route = choose_route(s, "graphics", request_key=f"user-{i}")
            assert route.ab_test_id == test.id and route.arm == arms[i]
            assert route.version.version == ("v2" if route.arm == "b" else "v1")
            assert choose_route(s, "graphics", request_key=f"user-{i}").arm == route.arm
        assert choose_route(s, "audio", request_key="user-1").ab_test_id is None  # not covered
        keyless = {choose_route(s, "graphics").arm for _ in range(200)}
    share_b = sum(a == "b" for a in arms.values()) / 10_000
    # binomial sd at n=10000, p=0.3 is 0.0046; 4 sd tolerance
    assert abs(share_b - 0.3) < 0.0185
    assert keyless == {"a", "b"}  # no key: a random key per request


def test_statistics_hand_computed():
    # a: 40/100, b: 55/100. pooled p = 95/200 = 0.475; se = sqrt(.475*.525*(1/100+1/100)) = 0.0706222
    # z = (0.55-0.40)/0.0706222 = 2.12398; two-sided p = erfc(z/√2) = 0.033668
    z, p = two_proportion_z(40, 100, 55, 100)
    assert z == pytest.approx(2.12398, abs=1e-4)
    assert p == pytest.approx(0.033668, abs=1e-5)
    assert p == pytest.approx(2 * scipy_stats.norm.sf(z), rel=1e-9)
    # Wilson 40/100: centre (0.4+1.92073/100)/(1+3.84146/100) = 0.403700,
    # half 1.95996*sqrt(0.0024+0.0000960365)/1.0384146 = 0.094304
    low, high = wilson_interval(40, 100)
    assert (low, high) == (pytest.approx(0.309396, abs=1e-5), pytest.approx(0.498004, abs=1e-5))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert two_proportion_z(5, 5, 7, 7) == (0.0, 1.0)
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)


def test_report_recommendation_and_promote(workspace, versions):
    test = ab.create_ab_test(workspace, "v1", "v2", split=0.5, alias="production")
    with pytest.raises(LightdomError, match="already running"):
        ab.create_ab_test(workspace, "v1", "v3", task_types=["graphics"])
    with workspace.session() as s:
        for i in range(100):
            ab.record_outcome(s, test.id, "a", signal="accept", success=i < 40, latency_ms=100 + i)
            ab.record_outcome(s, test.id, "b", signal="accept", success=i < 55, latency_ms=200 + i)
        with pytest.raises(LightdomError, match="arm 'c'"):
            ab.record_outcome(s, test.id, "c", signal="accept", success=True)
    with workspace.session() as s:
        report = ab.ab_report(s, test.name)
    assert (report.arms["a"].n, report.arms["a"].successes, report.arms["b"].successes) == (100, 40, 55)
    assert report.p_value == pytest.approx(0.033668, abs=1e-5)
    assert report.arms["a"].latency_p50_ms == pytest.approx(149.5)
    assert report.recommendation == "b better" and "p=0.0337" in report.reason
    with workspace.session() as s:
        strict = ab.ab_report(s, test.id, signals=["validity"])
    assert strict.recommendation == "keep collecting" and "fewer than 30" in strict.reason
    promotion = ab.promote_ab(workspace, test.id)
    assert promotion.winner_arm == "b" and promotion.move.version == "v2"
    with workspace.session() as s:
        assert get_version(s, "production").version == "v2"
        assert choose_route(s, "graphics", request_key="x").source == "alias"  # test ended
    with pytest.raises(LightdomError, match="already ended"):
        ab.promote_ab(workspace, test.id)


def test_people_decide_over_router_validity(workspace, versions):
    test = ab.create_ab_test(workspace, "v1", "v2", split=0.5)
    with workspace.session() as s:
        for i in range(40):
            ab.record_outcome(s, test.id, "a", signal="validity", success=True)
            ab.record_outcome(s, test.id, "b", signal="validity", success=i < 30)
    with workspace.session() as s:
        only_validity = ab.ab_report(s, test.id)
    assert only_validity.signals is None and only_validity.arms["b"].successes == 30
    with workspace.session() as s:
        for i in range(40):
            ab.record_outcome(s, test.id, "a", signal="reject", success=False)
            ab.record_outcome(s, test.id, "b", signal="accept", success=True)
    with workspace.session() as s:
        report = ab.ab_report(s, test.id)
    assert report.signals == ["accept", "reject", "external"]
    assert (report.arms["a"].n, report.arms["b"].successes, report.recommendation) == (40, 40, "b better")


def test_promote_refuses_without_evidence(workspace, versions):
    test = ab.create_ab_test(workspace, "v1", "v2")
    with workspace.session() as s:
        for arm in "ab":
            for i in range(50):
                ab.record_outcome(s, test.id, arm, signal="external", success=i % 2 == 0)
    with pytest.raises(LightdomError, match="not significant"):
        ab.promote_ab(workspace, test.id)
    assert ab.promote_ab(workspace, test.id, arm="a").move.version == "v1"
