"""Every binding's id, and the CLI command that does the same thing (shown on the help screen)."""

from __future__ import annotations

from textual.binding import Binding

# The shell equivalent of each binding, by binding id; "" when it is purely a navigation key.
CLI_EQUIVALENTS: dict[str, str] = {
    "overview": "shopctl report",
    "drift": "shopctl monitor history --metric drift_score",
    "kpis": "shopctl monitor history --metric conversion_rate",
    "alerts": "shopctl alerts list --open",
    "models": "shopctl models list / models show NAME VERSION",
    "jobs": "shopctl daemon status",
    "refresh": "",
    "help": "shopctl --help",
    "command_palette": "",
    "quit": "",
    "next_chart": "",
    "drift_filter": "",
    "drift_back": "",
    "alert_ack": "shopctl alerts ack ID --by NAME",
    "alert_jump": "",
    "model_promote": "shopctl models promote NAME VERSION --why TEXT",
    "model_rollback": "shopctl models rollback NAME --why TEXT",
    "job_run_now": "shopctl daemon run-now JOB --no-wait",
    "segments": "shopctl segments show",
    "funnel": "shopctl funnel --compare-to previous",
    "forecast": "shopctl forecast --by category",
    "experiments": "shopctl experiment list",
    "screens": "",
    "screens_close": "",
}

APP_BINDINGS = [
    Binding("f2,1", "show_mode('overview')", "Overview", show=False, id="overview"),
    Binding("f3,2", "show_mode('drift')", "Drift", show=False, id="drift"),
    Binding("f4,3", "show_mode('kpis')", "KPIs", show=False, id="kpis"),
    Binding("f5,4", "show_mode('alerts')", "Alerts", show=False, id="alerts"),
    Binding("f6,5", "show_mode('models')", "Models", show=False, id="models"),
    Binding("f7,6", "show_mode('jobs')", "Jobs", show=False, id="jobs"),
    Binding("f8,7", "show_mode('segments')", "Segments", show=False, id="segments"),
    Binding("f9,8", "show_mode('funnel')", "Funnel", show=False, id="funnel"),
    Binding("f10,9", "show_mode('forecast')", "Forecast", show=False, id="forecast"),
    Binding("f12,0", "show_mode('experiments')", "Experiments", show=False, id="experiments"),
    Binding("s", "screens", "Screens", id="screens"),
    Binding("ctrl+r", "refresh", "Refresh", show=False, id="refresh"),
    Binding("f1,question_mark", "help", "Help", id="help"),
    Binding("ctrl+p", "command_palette", "Commands", show=False, id="command_palette"),
    Binding("q", "quit", "Quit", id="quit"),
]


def display_key(keys: str) -> str:
    """The first key of a binding as a person types it ("question_mark" → "?", "f2" → "F2")."""
    first = keys.split(",")[0].strip()
    names = {"question_mark": "?", "slash": "/", "escape": "esc", "enter": "enter"}
    if first in names:
        return names[first]
    if first.startswith("f") and first[1:].isdigit():
        return first.upper()
    return first.replace("ctrl+", "^")
