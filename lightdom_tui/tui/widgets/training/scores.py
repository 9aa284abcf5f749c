"""What the training pane says about a run's plan and its task score, read from the run's meta.

The trainer stores the recipe plan before the run starts (``recipe``: steps, epochs, eval
cadence, ``estimated_seconds``, ``budget_limited``) and appends ``{"step", "name_f1",
"eval_loss"}`` to ``task_evals`` at each eval; ``show_run`` already returns that meta with the
run, so nothing here queries the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightdom_tui.safetext import markup_safe

SHOWN_EVALS = 6  # the latest evals listed on the line (the best one is always named)


@dataclass(frozen=True)
class TaskEval:
    """One eval's validation task score (attribute generation: name F1)."""

    step: int
    name_f1: float
    eval_loss: float | None


def task_evals(meta: dict[str, Any]) -> list[TaskEval]:
    """The run's task evals in step order (none when its config has no task metric)."""
    evals = []
    for row in meta.get("task_evals") or []:
        if isinstance(row, dict) and isinstance(row.get("name_f1"), (int, float)):
            loss = row.get("eval_loss")
            evals.append(TaskEval(int(row.get("step") or 0), float(row["name_f1"]),
                                  float(loss) if isinstance(loss, (int, float)) else None))
    return sorted(evals, key=lambda e: e.step)


def kept_eval(meta: dict[str, Any], evals: list[TaskEval]) -> TaskEval | None:
    """The eval whose checkpoint is kept as the run's adapter: a finished run says it
    (``summary.best_step``); while it runs, the latest eval the trainer marked ``best``."""
    summary = meta.get("summary") or {}
    wanted = summary.get("best_step") if summary.get("best_task_score") is not None else None
    if wanted is None:
        flagged = [row.get("step") for row in meta.get("task_evals") or [] if isinstance(row, dict) and row.get("best")]
        wanted = flagged[-1] if flagged else None
    return next((e for e in reversed(evals) if e.step == wanted), None)


def score_line(meta: dict[str, Any]) -> str | None:
    """'name F1 (validation)  step 5 0.125 · step 10 0.250 ★  best 0.250 at step 10 (the checkpoint kept)'."""
    evals = task_evals(meta)
    if not evals:
        return None
    best = kept_eval(meta, evals)
    shown = evals[-SHOWN_EVALS:]
    parts = [f"step {e.step} {e.name_f1:.3f}" + (" ★" if e == best else "") for e in shown]
    more = "… " if len(evals) > len(shown) else ""
    tail = f"  [b]best {best.name_f1:.3f}[/b] at step {best.step} (the checkpoint kept)" if best else ""
    return f"name F1 (validation)  {more}{' · '.join(parts)}{tail}"


def plan_line(meta: dict[str, Any], status: str, step: int) -> str | None:
    """The recipe plan recorded before the run, and while it runs the time left by that plan."""
    recipe = meta.get("recipe") or {}
    summary = recipe.get("summary")
    if not summary:
        return None
    line = f"plan: {markup_safe(summary)}"
    steps, seconds = recipe.get("steps"), recipe.get("estimated_seconds")
    if status in ("queued", "running") and isinstance(steps, int) and steps > 0 and isinstance(seconds, (int, float)):
        left = seconds * max(steps - step, 0) / steps
        line += f" · ≈ {left / 60:.0f} min left by the plan" if left >= 60 else f" · ≈ {left:.0f} s left by the plan"
    return line
