"""Routing precedence on a real workspace database."""

from __future__ import annotations

from lightdom_tui.db.models import ABTest, Alias, Deployment
from lightdom_tui.modelio.embedded import EMBEDDED_VERSION
from lightdom_tui.registry.routing import assign_arm, choose_route
from lightdom_tui.registry.versions import get_version, register_version


def _second_version(session, path):
    return register_version(session, version="cand", kind="gguf", format="gguf", path=path)


def test_route_precedence(workspace, embedded_gguf):
    with workspace.session() as s:
        assert choose_route(s, "attribute_generation").version is None
        base = get_version(s, EMBEDDED_VERSION)
        cand = _second_version(s, embedded_gguf)
        s.add(Alias(name="production", version_id=base.id))
    with workspace.session() as s:
        route = choose_route(s, "attribute_generation")
        assert (route.source, route.version.version) == ("alias", EMBEDDED_VERSION)
        s.add(Deployment(task_type="*", version_id=cand.id))
    with workspace.session() as s:
        route = choose_route(s, "graphics")
        assert (route.source, route.version.version) == ("deployment", "cand")
        s.add(Deployment(task_type="graphics", version_id=base.id))
    with workspace.session() as s:
        assert choose_route(s, "graphics").version.version == EMBEDDED_VERSION
        assert choose_route(s, "audio").version.version == "cand"
        s.add(ABTest(name="t", version_a_id=base.id, version_b_id=cand.id, split=0.5, task_types_json='["audio"]'))
    with workspace.session() as s:
        assert choose_route(s, "graphics").source == "deployment"
        route = choose_route(s, "audio", request_key="k1")
        assert route.source == "ab" and route.arm in ("a", "b")
        assert route.version.version == ("cand" if route.arm == "b" else EMBEDDED_VERSION)
        assert choose_route(s, "audio", request_key="k1").arm == route.arm
        assert choose_route(s, "audio", model="cand").source == "explicit"


def test_assign_arm_extremes():
    assert assign_arm("x", 0.0) == "a"
    assert assign_arm("x", 1.0) == "b"
