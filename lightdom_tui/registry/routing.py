"""Which model version serves a request: explicit model, A/B test, deployment, alias.

The serving router calls :func:`choose_route` once per request. Precedence:

1. an explicit ``model`` (version id, name or alias) wins;
2. a running A/B test covering the task type (empty task list = every task type)
   assigns an arm deterministically from a hash of the request key;
3. the active deployment for the task type, else the one for ``"*"``;
4. the ``production`` alias;
5. nothing: ``Route.version is None`` and the router uses the embedded base or the
   remote API.

Everything is read in the caller's session, so a route is one consistent snapshot
of the database (SQLite WAL readers never see a half-committed promote).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from lightdom_tui.db.jsoncol import loads
from lightdom_tui.db.models import ABTest, Deployment, ModelVersion
from lightdom_tui.registry.versions import find_version, get_version

PRODUCTION_ALIAS = "production"
ALL_TASK_TYPES = "*"


@dataclass
class Route:
    """The routing decision for one request."""

    version: ModelVersion | None
    deployment_id: int | None = None
    ab_test_id: int | None = None
    arm: str | None = None
    source: str = "none"  # explicit / ab / deployment / alias / none
    request_key: str | None = None


def arm_fraction(request_key: str, salt: str = "") -> float:
    """Map a request key to a number uniform in [0, 1) (first 8 bytes of sha256)."""
    digest = hashlib.sha256(f"{salt}{request_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(request_key: str, split: float, salt: str = "") -> str:
    """Arm ``"b"`` when the key's hash fraction is below ``split`` (b's share), else ``"a"``."""
    return "b" if arm_fraction(request_key, salt) < split else "a"


def ab_salt(ab_test_id: int) -> str:
    """Per-test salt so one key is assigned independently in different tests."""
    return f"abtest:{ab_test_id}:"


def covers(task_types_json: str, task_type: str) -> bool:
    """True when a task list (JSON; empty = all) includes ``task_type``."""
    task_types = loads(task_types_json, []) or []
    return not task_types or task_type in task_types


def running_ab_test(session: Session, task_type: str) -> ABTest | None:
    """The newest running A/B test covering ``task_type``."""
    tests = session.exec(
        select(ABTest).where(ABTest.status == "running").order_by(col(ABTest.id).desc())
    ).all()
    return next((t for t in tests if covers(t.task_types_json, task_type)), None)


def active_deployment(session: Session, task_type: str) -> Deployment | None:
    """The active deployment for exactly ``task_type`` (newest if several)."""
    return session.exec(
        select(Deployment)
        .where(Deployment.task_type == task_type, Deployment.status == "active")
        .order_by(col(Deployment.id).desc())
    ).first()


def choose_route(
    session: Session, task_type: str, request_key: str | None = None, model: str | int | None = None
) -> Route:
    """Decide which version serves this request (see the module docstring for the order)."""
    if model is not None and str(model).strip():
        return Route(version=get_version(session, model), source="explicit", request_key=request_key)
    test = running_ab_test(session, task_type)
    if test is not None:
        key = request_key or secrets.token_hex(16)
        arm = assign_arm(key, test.split, ab_salt(test.id or 0))
        version = session.get(ModelVersion, test.version_b_id if arm == "b" else test.version_a_id)
        if version is not None:
            return Route(version=version, ab_test_id=test.id, arm=arm, source="ab", request_key=key)
    for candidate in (task_type, ALL_TASK_TYPES):
        deployment = active_deployment(session, candidate)
        if deployment is not None:
            version = session.get(ModelVersion, deployment.version_id)
            if version is not None:
                return Route(
                    version=version, deployment_id=deployment.id, source="deployment", request_key=request_key
                )
    version = find_version(session, PRODUCTION_ALIAS)
    if version is not None:
        return Route(version=version, source="alias", request_key=request_key)
    return Route(version=None, request_key=request_key)
