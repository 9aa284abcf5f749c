"""Hardening (issue 18): YAML is read without aliases, within a size and a depth bound, everywhere."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration.documents import export_campaign, import_campaign, read_document, write_document
from lightdom_tui.orchestration import tree
from lightdom_tui.safe_yaml import load_yaml

PACKAGE = Path(__file__).resolve().parents[2] / "lightdom_tui"

BILLION_LAUGHS = """lightdom: campaign
version: 1
campaign:
  name: laughs
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
  workflows: []
  description: *i
"""


def test_billion_laughs_is_refused_at_the_first_anchor_in_one_line(tmp_path, ws):
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS)
    started = time.perf_counter()
    with pytest.raises(LightdomError, match=re.escape(f"{path}:5: not valid YAML: anchors (&a) are not allowed")):
        read_document(path)
    assert time.perf_counter() - started < 1.0
    with ws.session() as s:
        assert tree.list_campaigns(s) == []


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: *x\n", ":2: not valid YAML: aliases (*x) are not allowed"),
    ("base: &base {x: 1}\nother:\n  <<: *base\n", ":1: not valid YAML: anchors (&base) are not allowed"),
    ("x: " + "[" * 100 + "]" * 100 + "\n", ":1: not valid YAML: nested deeper than 64 levels"),
    ("x: [unclosed\n", ": not valid YAML"),
    ("x: !!python/object/apply:os.system ['true']\n", ": not valid YAML: could not determine a constructor"),
    ("x: " + "9" * 5000 + "\n", ":1: not valid YAML: an integer too long to read"),
    ("x: !!binary aGVsbG8=\n", ":1: not valid YAML: binary values are not allowed"),
    ("x: !!set {a, b}\n", ":1: not valid YAML: set values are not allowed"),
])
def test_yaml_problems_are_one_line_naming_the_source(text, message):
    with pytest.raises(LightdomError) as caught:
        load_yaml(text, "doc.yaml")
    assert str(caught.value).startswith("doc.yaml") and message in str(caught.value)
    assert "\n" not in str(caught.value).strip()


def test_what_yaml_builds_is_what_json_would():
    """Timestamps stay the text written (no datetime in a JSON column), keys are text (sortable)."""
    assert load_yaml("d: 2020-13-45\nt: 2026-01-01T06:00:00Z\n1: one\nnull: none\n", "doc.yaml") == {
        "d": "2020-13-45", "t": "2026-01-01T06:00:00Z", "1": "one", "null": "none"}


def test_size_bound():
    with pytest.raises(LightdomError, match="doc.yaml: larger than 4 MiB; refused"):
        load_yaml("x: " + "y" * (4 * 1024 * 1024), "doc.yaml")


def test_yaml_export_import_still_round_trips(tmp_path, ws):
    with ws.session() as s:
        c = tree.create_campaign(s, "rt", description="multi\nline: with colon & ampersand *star")
        w = tree.create_workflow(s, c.id, "w")
        svc = tree.create_service(s, w.id, "pages", type="html", config={"urls": ["https://example.com/a"]})
        tree.create_datastream(s, svc.id, "items")
        doc = export_campaign(s, c.id)
    path = write_document(doc, tmp_path / "rt.yaml")
    with ws.session() as s:
        again = import_campaign(s, read_document(path), name="rt2")
        copy = export_campaign(s, again.id)
    copy["campaign"]["name"] = "rt"
    assert copy == doc


def test_every_yaml_load_in_the_package_goes_through_safe_yaml():
    """One way to read YAML: no other module calls yaml.load / safe_load / full_load / unsafe_load."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "safe_yaml.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\byaml\.(safe_|full_|unsafe_)?load(_all)?\s*\(", text):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


_YAML_BITS = st.sampled_from(["a: ", "- ", "&x ", "*x ", "!!binary ", "!!set ", "? ", "{", "}", "[", "]", ", ", "\n",
                              "  ", "'", '"', "2020-01-01", "1e999", "9" * 5000, "<<: ", "%YAML 1.1\n", "---\n",
                              "!!python/name:os.system ", "\t", "#", "|\n", ">\n", "\x00", "\ufeff", "é"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.lists(_YAML_BITS, max_size=30).map("".join), st.text(max_size=200)),
       raw=st.binary(max_size=64), suffix=st.sampled_from([".yaml", ".json"]))
def test_any_document_file_reads_as_a_dict_or_one_line(tmp_path, text, raw, suffix):
    path = tmp_path / f"doc{suffix}"
    path.write_bytes(text.encode("utf-8", "surrogatepass") + raw)
    try:
        doc = read_document(path)
    except LightdomError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc).strip()
        return
    assert isinstance(doc, dict) and all(isinstance(k, str) for k in doc)
