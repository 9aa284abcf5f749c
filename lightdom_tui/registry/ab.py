"""A/B tests: create, record outcomes, report with statistics, promote the winner.

Arms: ``a`` is the incumbent, ``b`` the candidate; ``split`` is b's share of the
traffic. The router (``routing.choose_route``) assigns a request by hashing its key,
so the same key always lands in the same arm. Outcomes come from real signals (the
campaign tree's accept/reject, the router's validity and latency) through
:func:`record_outcome`, and from ``lightdom ab record`` for external ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from lightdom_tui.bounds import row_id
from lightdom_tui.db.jsoncol import dumps, loads
from lightdom_tui.db.models import ABOutcome, ABTest, ModelVersion, RequestLog, utcnow
from lightdom_tui.errors import LightdomError
from lightdom_tui.registry.aliases import AliasMove, check_alias_name, move_alias
from lightdom_tui.registry.stats import percentile, two_proportion_z, wilson_interval
from lightdom_tui.db.access import write_session
from lightdom_tui.registry.versions import get_version
from lightdom_tui.workspace import Workspace

ARMS = ("a", "b")
SIGNALS = ("accept", "reject", "validity", "latency", "external")
HUMAN_SIGNALS = ("accept", "reject", "external")
ALPHA = 0.05
MIN_SAMPLES = 30  # per arm, before any recommendation other than "keep collecting"


@dataclass
class ABTestInfo:
    """An A/B test as shown by ``ab list`` / ``ab create``."""

    id: int
    name: str
    status: str
    version_a: str
    version_b: str
    split: float
    task_types: list[str]
    alias: str | None
    created_at: datetime
    ended_at: datetime | None = None
    winner: str | None = None


@dataclass
class ArmReport:
    """Statistics of one arm."""

    arm: str
    version: str
    n: int
    successes: int
    success_rate: float | None
    ci95: tuple[float, float]
    requests: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    by_signal: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class ABReport:
    """``ab report``: both arms, the test of their difference and what to do."""

    test: ABTestInfo
    arms: dict[str, ArmReport]
    difference: float | None  # success rate b − a
    z: float | None
    p_value: float | None
    recommendation: str  # "b better" / "a better" / "keep collecting"
    reason: str
    signals: list[str] | None = None  # the signals counted; None = all of them


def _info(session: Session, test: ABTest) -> ABTestInfo:
    names = {
        v.id: v.version
        for v in session.exec(
            select(ModelVersion).where(
                col(ModelVersion.id).in_([test.version_a_id, test.version_b_id, test.winner_version_id or -1])
            )
        ).all()
    }
    return ABTestInfo(
        id=test.id,
        name=test.name,
        status=test.status,
        version_a=names.get(test.version_a_id, "?"),
        version_b=names.get(test.version_b_id, "?"),
        split=test.split,
        task_types=loads(test.task_types_json, []),
        alias=test.alias,
        created_at=test.created_at,
        ended_at=test.ended_at,
        winner=names.get(test.winner_version_id) if test.winner_version_id else None,
    )


def get_ab_test(session: Session, ref: str | int) -> ABTest:
    """An A/B test by id or name; a clear error otherwise."""
    found = None
    if row_id(ref) is not None:
        found = session.get(ABTest, row_id(ref))
    if found is None:
        found = session.exec(select(ABTest).where(ABTest.name == str(ref))).first()
    if found is None:
        raise LightdomError(f"A/B test '{ref}': no such test (see `lightdom ab list`)")
    return found


def _overlaps(a: list[str], b: list[str]) -> bool:
    return not a or not b or bool(set(a) & set(b))


def create_ab_test(
    workspace: Workspace,
    version_a: str | int,
    version_b: str | int,
    *,
    split: float = 0.5,
    task_types: list[str] | None = None,
    name: str | None = None,
    alias: str = "production",
) -> ABTestInfo:
    """Start a test sending ``split`` of the traffic for ``task_types`` (empty = all) to ``b``."""
    if not 0.0 < split < 1.0:
        raise LightdomError(f"--split {split}: must be strictly between 0 and 1 (share of traffic for b)")
    task_types = sorted({t.strip() for t in (task_types or []) if t.strip()})
    with write_session(workspace) as session:
        a, b = get_version(session, version_a), get_version(session, version_b)
        if a.id == b.id:
            raise LightdomError(f"--b {version_b}: same version as --a; an A/B test needs two versions")
        alias = check_alias_name(session, alias)
        for running in session.exec(select(ABTest).where(ABTest.status == "running")).all():
            if _overlaps(loads(running.task_types_json, []), task_types):
                raise LightdomError(
                    f"A/B test '{running.name}' is already running for overlapping task types; "
                    "end or promote it first"
                )
        name = name or f"{a.version}-vs-{b.version}-{utcnow():%Y%m%d%H%M%S}"
        if session.exec(select(ABTest.id).where(ABTest.name == name)).first() is not None:
            raise LightdomError(f"A/B test '{name}': name already used")
        test = ABTest(
            name=name,
            version_a_id=a.id,
            version_b_id=b.id,
            split=split,
            task_types_json=dumps(task_types),
            alias=alias,
        )
        session.add(test)
        session.flush()
        return _info(session, test)


def list_ab_tests(session: Session) -> list[ABTestInfo]:
    """Every A/B test, newest first."""
    return [_info(session, t) for t in session.exec(select(ABTest).order_by(col(ABTest.id).desc())).all()]


def record_outcome(
    session: Session,
    ab_test_id: int,
    arm: str,
    *,
    signal: str,
    success: bool,
    latency_ms: float | None = None,
    request_key: str | None = None,
) -> ABOutcome:
    """Store one observed outcome for an arm (in the caller's transaction)."""
    if arm not in ARMS:
        raise LightdomError(f"arm '{arm}': expected 'a' or 'b'")
    if signal not in SIGNALS:
        raise LightdomError(f"signal '{signal}': expected one of {', '.join(SIGNALS)}")
    if session.get(ABTest, ab_test_id) is None:
        raise LightdomError(f"A/B test {ab_test_id}: no such test")
    outcome = ABOutcome(
        ab_test_id=ab_test_id,
        arm=arm,
        signal=signal,
        success=bool(success),
        latency_ms=latency_ms,
        request_key=request_key,
    )
    session.add(outcome)
    session.flush()
    return outcome


def _arm_report(session: Session, test: ABTest, arm: str, version: str, signals: list[str] | None) -> ArmReport:
    query = select(ABOutcome).where(ABOutcome.ab_test_id == test.id, ABOutcome.arm == arm)
    if signals:
        query = query.where(col(ABOutcome.signal).in_(signals))
    outcomes = session.exec(query).all()
    n = len(outcomes)
    successes = sum(1 for o in outcomes if o.success)
    by_signal: dict[str, dict[str, int]] = {}
    for o in outcomes:
        entry = by_signal.setdefault(o.signal, {"n": 0, "successes": 0})
        entry["n"] += 1
        entry["successes"] += int(o.success)
    # latency: every routed request of the arm; outcomes' latencies when nothing was routed
    latencies = list(
        session.exec(
            select(RequestLog.latency_ms).where(RequestLog.ab_test_id == test.id, RequestLog.arm == arm)
        ).all()
    )
    requests = len(latencies)
    if not latencies:
        latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    return ArmReport(
        arm=arm,
        version=version,
        n=n,
        successes=successes,
        success_rate=successes / n if n else None,
        ci95=wilson_interval(successes, n),
        requests=requests,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        by_signal=by_signal,
    )


def _default_signals(session: Session, test: ABTest) -> list[str] | None:
    """People's verdicts decide when there are any; the router's validity outcomes otherwise.

    Validity is near 100 % for both arms of a grammar-constrained model, so mixing it
    into accept/reject outcomes would wash out the difference people see.
    """
    human = list(HUMAN_SIGNALS)
    found = session.exec(
        select(ABOutcome.id).where(ABOutcome.ab_test_id == test.id, col(ABOutcome.signal).in_(human)).limit(1)
    ).first()
    return human if found is not None else None


def recommend(a: ArmReport, b: ArmReport, p_value: float | None, *, min_samples: int = MIN_SAMPLES,
              alpha: float = ALPHA) -> tuple[str, str]:
    """("b better" | "a better" | "keep collecting", why)."""
    short = [r for r in (a, b) if r.n < min_samples]
    if short:
        need = ", ".join(f"arm {r.arm} has {r.n}" for r in short)
        return "keep collecting", f"fewer than {min_samples} outcomes per arm ({need})"
    assert p_value is not None and a.success_rate is not None and b.success_rate is not None
    if p_value >= alpha:
        return "keep collecting", (
            f"difference {b.success_rate - a.success_rate:+.3f} not significant (p={p_value:.3g} ≥ {alpha})"
        )
    winner, loser = (b, a) if b.success_rate > a.success_rate else (a, b)
    why = (
        f"arm {winner.arm} succeeds {winner.success_rate:.1%} vs {loser.success_rate:.1%} "
        f"(p={p_value:.3g} < {alpha})"
    )
    if (
        winner.latency_p95_ms is not None
        and loser.latency_p95_ms is not None
        and winner.latency_p95_ms > 1.5 * loser.latency_p95_ms
    ):
        why += f"; note its p95 latency {winner.latency_p95_ms:.0f} ms vs {loser.latency_p95_ms:.0f} ms"
    return f"{winner.arm} better", why


def ab_report(session: Session, ref: str | int, *, signals: list[str] | None = None,
              min_samples: int = MIN_SAMPLES) -> ABReport:
    """Per-arm success rate with Wilson 95 % intervals, a two-proportion z-test, latency, advice."""
    test = get_ab_test(session, ref)
    info = _info(session, test)
    signals = signals or _default_signals(session, test)
    a = _arm_report(session, test, "a", info.version_a, signals)
    b = _arm_report(session, test, "b", info.version_b, signals)
    z, p_value = two_proportion_z(a.successes, a.n, b.successes, b.n)
    recommendation, reason = recommend(a, b, p_value, min_samples=min_samples)
    difference = (
        b.success_rate - a.success_rate if a.success_rate is not None and b.success_rate is not None else None
    )
    return ABReport(info, {"a": a, "b": b}, difference, z, p_value, recommendation, reason, signals)


@dataclass
class ABPromotion:
    """Result of ``ab promote``: the ended test and the alias move."""

    test: ABTestInfo
    winner_arm: str
    move: AliasMove


def end_ab_test(workspace: Workspace, ref: str | int) -> ABTestInfo:
    """Stop a running test without promoting anything (routing falls back to deployments)."""
    with write_session(workspace) as session:
        test = get_ab_test(session, ref)
        if test.status != "running":
            raise LightdomError(f"A/B test '{test.name}': already {test.status}")
        test.status, test.ended_at = "ended", utcnow()
        session.add(test)
        session.flush()
        return _info(session, test)


def promote_ab(workspace: Workspace, ref: str | int, *, arm: str | None = None, alias: str | None = None,
               min_samples: int = MIN_SAMPLES) -> ABPromotion:
    """End the test and move the alias to the winning arm, in one transaction.

    Without ``arm`` the report's recommendation decides; "keep collecting" is refused
    (pass ``arm`` to override it knowingly).
    """
    if arm is not None and arm not in ARMS:
        raise LightdomError(f"--arm {arm}: expected 'a' or 'b'")
    with write_session(workspace) as session:
        test = get_ab_test(session, ref)
        if test.status != "running":
            raise LightdomError(f"A/B test '{test.name}': already {test.status}")
        if arm is None:
            report = ab_report(session, test.id, min_samples=min_samples)
            if report.recommendation == "keep collecting":
                raise LightdomError(
                    f"A/B test '{test.name}': no winner yet ({report.reason}); pass --arm a|b to choose anyway"
                )
            arm = report.recommendation[0]
        winner = session.get(ModelVersion, test.version_b_id if arm == "b" else test.version_a_id)
        assert winner is not None  # foreign key
        test.status, test.ended_at, test.winner_version_id = "ended", utcnow(), winner.id
        session.add(test)
        move = move_alias(
            session, winner, alias or test.alias or "production", action="ab_promote",
            reason=f"A/B test '{test.name}' arm {arm}",
        )
        session.flush()
        return ABPromotion(test=_info(session, test), winner_arm=arm, move=move)
