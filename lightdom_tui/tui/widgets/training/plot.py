"""Live loss / eval-loss plot fed from deques (Dolphie-style: redraw from recent points)."""

from __future__ import annotations

from collections import deque
from typing import Any

from textual_plotext import PlotextPlot

MAX_POINTS = 2000


class LossPlot(PlotextPlot):
    """Loss and eval loss against the step; ``update_points`` appends only new steps."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps: deque[int] = deque(maxlen=MAX_POINTS)
        self.loss: deque[float] = deque(maxlen=MAX_POINTS)
        self.eval_steps: deque[int] = deque(maxlen=MAX_POINTS)
        self.eval_loss: deque[float] = deque(maxlen=MAX_POINTS)
        self.run_id: int | None = None

    def update_points(self, run_id: int, metrics: list[dict[str, Any]]) -> None:
        """Show ``metrics`` (RunMetric rows as dicts, step order) of run ``run_id``."""
        if run_id != self.run_id:
            self.run_id = run_id
            for points in (self.steps, self.loss, self.eval_steps, self.eval_loss):
                points.clear()
        last = self.steps[-1] if self.steps else -1
        last_eval = self.eval_steps[-1] if self.eval_steps else -1
        for row in metrics:
            if row["step"] > last and row.get("loss") is not None:
                self.steps.append(row["step"])
                self.loss.append(row["loss"])
            if row["step"] > last_eval and row.get("eval_loss") is not None:
                self.eval_steps.append(row["step"])
                self.eval_loss.append(row["eval_loss"])
        self.redraw()

    def redraw(self) -> None:
        """Rebuild the figure from the deques."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"run #{self.run_id} loss" if self.run_id is not None else "loss")
        plt.xlabel("step")
        if self.steps:
            plt.plot(list(self.steps), list(self.loss), label="loss", marker="braille")
        if self.eval_steps:
            plt.plot(list(self.eval_steps), list(self.eval_loss), label="eval loss", marker="braille")
        self.refresh()
