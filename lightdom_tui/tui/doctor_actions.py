"""`lightdom doctor` from the TUI: every environment and workspace check, through the CLI's use case, in a
read-only dialog."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.message import Message


class DoctorReported(Message):
    """The doctor's report (``usecases.workspace.run_doctor``)."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report


def doctor_lines(report: dict[str, Any]) -> list[str]:
    """The report as `lightdom doctor` prints it: one line per check."""
    torch, llama, ws = report["torch"], report["llama_cpp"], report["workspace"]
    state = ws.get("error") or ("ok" if ws["initialised"] else "not initialised")
    settings = report["settings"]
    lines = [
        f"python        {report['python']}",
        f"torch         {torch.get('version', 'not installed')} — device {torch['device']}",
        f"llama.cpp     {llama.get('version', 'missing')} gpu_offload={llama.get('gpu_offload')} "
        f"omp_wait={llama.get('omp_wait_policy')}",
        *([f"              {llama['omp_note']}"] if llama.get("omp_note") else []),
        f"bitsandbytes  {report['bitsandbytes'].get('version')} ({report['bitsandbytes'].get('backend')})",
        f"keyring       {report['keyring'].get('backend') or report['keyring']}",
        f"disk free     {report['disk']['free_gb']} GiB",
        f"embedded      {report['embedded_model']}",
        f"workspace     {ws['path']} ({state})",
        f"settings      {'ok' if settings['valid'] else '; '.join(settings['problems'])}",
    ]
    for base in report.get("export_memory", []):
        need = base.get("error") or (f"~{base['export_peak_gb']} GiB RAM (+{base['mapped_f16_gb']} GiB f16 "
                                     "file mapped by llama.cpp)")
        lines.append(f"export {base['version']}: {need}")
    return lines


class DoctorActions:
    """Mixin of ``LightdomApp``: the doctor's checks in a worker, the report in a dialog."""

    def action_doctor(self) -> None:
        """Run every check `lightdom doctor` runs (torch/GPU, llama.cpp, keyring, disk, workspace, settings)."""
        self.notify("doctor: checking…")  # type: ignore[attr-defined]
        self._doctor()

    @work(thread=True, exclusive=True, group="doctor", name="doctor", exit_on_error=False)
    def _doctor(self) -> None:
        from lightdom_tui.usecases.workspace import run_doctor

        self.post_message(DoctorReported(run_doctor(self.workspace.root)))  # type: ignore[attr-defined]

    def on_doctor_reported(self, message: DoctorReported) -> None:
        from lightdom_tui.tui.screens.dialogs import ReportScreen

        self.push_screen(ReportScreen("lightdom doctor", "\n".join(doctor_lines(message.report))))  # type: ignore[attr-defined]
