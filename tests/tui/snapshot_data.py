"""Deterministic rows for the snapshot tests and the README screenshots (fixed ids, names and dates)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text

FIXED = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def seed_all(workspace) -> None:  # noqa: ANN001
    """Examples (with a rejection), a finished training run with its metric curve, an alias, a campaign branch
    with pending suggestions; every timestamp pinned."""
    from lightdom_tui.curation import actions
    from lightdom_tui.db.models import AttributeSuggestion, RunMetric, TrainingRun
    from lightdom_tui.orchestration import tree
    from tests.tui.conftest import seed_examples

    seed_examples(workspace, 40)
    actions.approve(workspace, [2, 4, 6])
    actions.reject(workspace, [3], "answer misses the price")
    with workspace.session() as session:
        run = TrainingRun(status="completed", method="lora", preset="tiny-cpu", total_steps=20, base_version_id=1,
                          created_at=FIXED, started_at=FIXED, finished_at=FIXED)
        session.add(run)
        session.flush()
        for step in range(1, 21):
            session.add(RunMetric(run_id=run.id, step=step, loss=3.2 * 0.93**step + 0.4, learning_rate=1e-3,
                                  eval_loss=3.3 * 0.94**step + 0.5 if step % 5 == 0 else None,
                                  tokens_per_sec=410.0 + step, created_at=FIXED))
        campaign = tree.create_campaign(session, "spring shop", description="catalogue pages", status="active")
        session.flush()
        workflow = tree.create_workflow(session, campaign.id, "nightly crawl")
        session.flush()
        service = tree.create_service(session, workflow.id, "product pages", type="html",
                                      config={"urls": ["https://shop.example/p/1"]})
        session.flush()
        stream = tree.create_datastream(session, service.id, "products", destination="sqlite:products")
        session.flush()
        tree.create_attribute(session, stream.id, "title", description="Product title", selector="h1")
        for name, kind, description in (("price", "number", "Price in EUR"), ("in_stock", "boolean", "Availability"),
                                        ("sku", "string", "Stock keeping unit")):
            session.add(AttributeSuggestion(datastream_id=stream.id, topic="products", name=name, type=kind,
                                            description=description, model_version="smollm2-135m-instruct",
                                            created_at=FIXED))
    with workspace.engine.begin() as connection:  # pin the clocks the panes show
        stamp = FIXED.strftime("%Y-%m-%d %H:%M:%S.%f")
        for table in ("example", "modelversion", "trainingrun", "campaign"):
            connection.execute(text(f"UPDATE {table} SET created_at = :t"), {"t": stamp})
