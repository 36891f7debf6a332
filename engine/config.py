"""The typed, validated configuration read from a workspace's config.toml.

Each section is a pydantic model that forbids unknown keys, so a typo is an error naming the file and key
rather than a silently ignored setting.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).parent / "defaults" / "config.toml"

EVENT_TYPES = ("view", "cart", "remove_from_cart", "checkout", "purchase", "other")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _checked_window(value: str, key: str) -> str:
    """A monitoring window length ("1d", "12h", "2w"), checked with the one duration parser."""
    from datetime import timedelta

    from engine.errors import InputError
    from engine.infra.durations import parse_duration

    try:
        parse_duration(value, source=key, default_unit="d", granularity=timedelta(hours=1))
    except InputError as error:
        raise ValueError(str(error).replace(f"{key} ", "", 1)) from None
    return value


class SchemaConfig(Section):
    preset: str = ""
    columns: dict[str, str] = Field(default_factory=dict)
    events: dict[str, str] = Field(default_factory=dict)
    unmapped: Literal["other", "quarantine"] = "other"
    dimensions: dict[str, str] = Field(
        default_factory=lambda: {"channel": "channel", "device": "device", "country": "country"}
    )
    time_format: str = ""
    time_zone: str = "UTC"
    delimiter: str = ""
    encoding: str = ""
    session_gap_minutes: float = Field(30, gt=0)
    resessionize: bool = False
    plausible_start: str = "2000-01-01"
    plausible_future_days: int = Field(2, ge=0)

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC, Europe/London or Asia/Shanghai"
            ) from None
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        if value:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}: use utf-8, cp1252, latin-1, ...") from None
        return value

    @field_validator("plausible_start")
    @classmethod
    def _a_date(cls, value: str) -> str:
        from datetime import date

        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date like 2000-01-01") from None
        return value

    @field_validator("events")
    @classmethod
    def _known_event_types(cls, value: dict[str, str]) -> dict[str, str]:
        for source, canonical in value.items():
            if canonical not in EVENT_TYPES:
                raise ValueError(
                    f"event {source!r} maps to {canonical!r}; expected one of {', '.join(EVENT_TYPES)}"
                )
        return value


class PrivacyConfig(Section):
    hash_user_ids: bool = False
    key_env: str = "SHOPCTL_HASH_KEY"


class FeaturesConfig(Section):
    horizon_days: int = Field(30, gt=0)
    window_events: int = Field(700_000, ge=10_000)


Candidate = Literal["logistic", "hgb", "mlp", "stack"]
SinkName = Literal["log", "stderr", "webhook", "command"]


def _every_candidate() -> list[Candidate]:
    return ["logistic", "hgb", "mlp", "stack"]


def _log_sink() -> list[SinkName]:
    return ["log"]


class TrainingConfig(Section):
    candidates: list[Candidate] = Field(default_factory=_every_candidate)
    split: tuple[float, float, float] = (0.70, 0.15, 0.15)
    seed: int = 42
    selection_metric: Literal["roc_auc", "pr_auc", "log_loss"] = "roc_auc"
    regression_selection_metric: Literal["rmse", "mae", "r2"] = "rmse"
    parity_tolerance: float = Field(1e-4, gt=0)
    quantize_mlp: bool = False
    quantize_tolerance: float = Field(0.005, ge=0)
    numeric_columns: list[str] = Field(default_factory=list)
    categorical_columns: list[str] = Field(default_factory=list)
    ignore_columns: list[str] = Field(default_factory=list)
    threads: int = Field(1, ge=0)
    cv_max_rows: int = Field(20000, ge=0)
    cv_folds: int = Field(5, ge=2, le=20)

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(part <= 0 for part in value) or abs(sum(value) - 1.0) > 1e-6:
            raise ValueError(
                "split must be three positive fractions that add up to 1, e.g. [0.7, 0.15, 0.15]"
            )
        return value


class ScoringConfig(Section):
    chunk_rows: int = Field(262144, gt=0)
    threads: int = Field(2, ge=1)
    on_invalid: Literal["null", "missing", "fail"] = "null"


class DriftOverride(Section):
    method: Literal["psi", "ks", "wasserstein", "jensenshannon", "chisquare"] | None = None
    threshold: float | None = None


# Keys that older shopctl versions knew, with why they no longer do anything: a config that has one still loads,
# and `shopctl config check` (and `monitor run --json`, under "notes") says to remove it.
DEPRECATED_MONITOR_KEYS = {
    "min_sessions": (
        "[monitor] min_sessions is deprecated and ignored: a KPI's volume rule now comes from its statistic "
        "(low volume widens the band; a check is skipped only when no count could leave it); remove the key"
    ),
}


class MonitorConfig(Section):
    window: str = "1d"
    baseline_weeks: int = Field(4, ge=1)
    anomaly_z: float = Field(4.0, gt=0)
    volume_tolerance: float = Field(0.5, gt=0, lt=1)
    funnel: list[str] = Field(default_factory=lambda: ["view", "cart", "checkout", "purchase"])
    segments: list[str] = Field(default_factory=lambda: ["channel", "device", "visitor_type"])
    drift_method: Literal["auto", "psi", "ks", "wasserstein", "jensenshannon", "chisquare"] = "auto"
    drift_share: float = Field(0.5, gt=0, le=1)
    drift_overrides: dict[str, DriftOverride] = Field(default_factory=dict)
    retention_days: int = Field(400, ge=0)

    _notes: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _drop_deprecated(cls, data: Any, handler: Any) -> MonitorConfig:
        """Accept the keys of DEPRECATED_MONITOR_KEYS (validated as before, then ignored) and remember a note."""
        notes = []
        if isinstance(data, dict):
            data = dict(data)
            for key, note in DEPRECATED_MONITOR_KEYS.items():
                if key in data:
                    value = data.pop(key)
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        raise ValueError(
                            f"{key} = {value!r}: deprecated, and not a whole number >= 0; remove it"
                        )
                    notes.append(note)
        config = handler(data)
        config._notes = notes
        return config

    @property
    def notes(self) -> list[str]:
        """Deprecation notes for keys the file had that are now ignored."""
        return list(self._notes)

    @field_validator("window")
    @classmethod
    def _a_window(cls, value: str) -> str:
        return _checked_window(value, "window")


class AlertsConfig(Section):
    sinks: list[SinkName] = Field(default_factory=_log_sink)
    webhook_url_env: str = "SHOPCTL_WEBHOOK_URL"
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhook_retries: int = Field(3, ge=0)
    # The whole of one outbox drain (every attempt, retry and backoff of every queued webhook or command
    # delivery) stops after this long; what is left stays queued for the daemon or `shopctl alerts deliver`.
    webhook_deadline_seconds: float = Field(10.0, gt=0, le=3600)
    command: str = ""
    cooldown_minutes: float = Field(60, ge=0)
    # An open KPI anomaly alert resolves once its series is back within ±resolve_z of its baseline (z of the
    # band's statistic), not on the first window short of [monitor] anomaly_z; 0 turns the hysteresis off.
    resolve_z: float = Field(2.0, ge=0)
    rules: list[dict[str, Any]] = Field(default_factory=list)


class JobConfig(Section):
    trigger: Literal["interval", "cron"] = "interval"
    seconds: float | None = None
    minutes: float | None = None
    hours: float | None = None
    cron: str = ""
    enabled: bool = True
    model: str = ""
    window: str = ""
    # What the job runs: a built-in task (monitor, ingest, retrain, report, deliver, experiments, forecast) or
    # "module:function"; "" = the job id.
    task: str = ""

    @field_validator("window")
    @classmethod
    def _a_window(cls, value: str) -> str:
        return _checked_window(value, "window") if value else value

    @field_validator("cron")
    @classmethod
    def _a_cron_expression(cls, value: str) -> str:
        """A cron expression parses with APScheduler's own parser (only when one is given)."""
        if not value.strip():
            return value
        from apscheduler.triggers.cron import CronTrigger  # only when a cron job is configured

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as error:
            raise ValueError(
                f"{value!r} is not a cron expression ({error}); use five fields "
                "'minute hour day month weekday', e.g. '0 3 * * 1'"
            ) from None
        return value

    @model_validator(mode="after")
    def _a_trigger(self) -> JobConfig:
        """A cron job has an expression; an interval job has a positive length."""
        if self.trigger == "cron":
            if not self.cron.strip():
                raise ValueError("a cron job needs cron = 'm h dom mon dow', e.g. '0 3 * * 1'")
        elif (self.seconds or 0) + (self.minutes or 0) * 60 + (self.hours or 0) * 3600 <= 0:
            raise ValueError("an interval job needs seconds, minutes or hours > 0")
        return self


class ScheduleConfig(Section):
    misfire_grace_seconds: int = Field(300, ge=1)
    coalesce: bool = True
    retry_attempts: int = Field(2, ge=0)
    retry_delay_seconds: float = Field(30, ge=0)
    jobs: dict[str, JobConfig] = Field(default_factory=dict)


class RetrainConfig(Section):
    metric: str = "roc_auc"
    margin: float = Field(0.005, ge=0)
    train_days: int = Field(45, gt=0)
    holdout_days: int = Field(7, gt=0)
    on_alert_runs: int = Field(3, ge=0)
    min_interval_hours: float = Field(24, ge=0)


class EngineConfig(Section):
    engine: Literal["local", "spark"] = "local"
    master: str = "local[2]"
    connect_timeout_seconds: float = Field(60, gt=0)
    app_name: str = "shopctl"


class UIConfig(Section):
    refresh_seconds: float = Field(5, gt=0)
    mouse: bool = True


class OrderRiskConfig(Section):
    review_rate: float = Field(0.01, gt=0, lt=1)
    detector: Literal["isolation_forest", "ecod"] = "ecod"


RecommendCandidate = Literal["popularity", "trending", "itemknn", "ease", "als", "content", "fused"]


def _every_recommender() -> list[RecommendCandidate]:
    return ["popularity", "trending", "itemknn", "ease", "als", "content", "fused"]


class RecommendConfig(Section):
    view_weight: float = Field(1.0, ge=0)
    cart_weight: float = Field(3.0, ge=0)
    purchase_weight: float = Field(5.0, ge=0)
    half_life_days: float = Field(30.0, gt=0)
    trending_half_life_days: float = Field(3.0, gt=0)
    test_days: int = Field(7, gt=0)
    validation_days: int = Field(7, gt=0)
    train_days: int = Field(90, gt=0)
    exclude_purchased: bool = True
    candidates: list[RecommendCandidate] = Field(default_factory=_every_recommender)
    neighbours: int = Field(100, gt=0)
    max_ease_items: int = Field(8000, gt=0, le=32000)
    ease_lambda: float = Field(200.0, gt=0)
    als_factors: int = Field(64, gt=0)
    als_iterations: int = Field(15, gt=0)
    als_regularization: float = Field(0.05, ge=0)
    seed: int = 42
    threads: int = Field(2, ge=1)
    batch_users: int = Field(256, gt=0)


class Settings(Section):
    schema_: SchemaConfig = Field(default_factory=SchemaConfig, alias="schema")
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    ui: UIConfig = Field(default_factory=UIConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    keymap: dict[str, str] = Field(default_factory=dict)
    order_risk: OrderRiskConfig = Field(default_factory=OrderRiskConfig)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property  # pydantic's deprecated BaseModel.schema() classmethod is shadowed on purpose: the section's name
    def schema(self) -> SchemaConfig:  # type: ignore[override]  # noqa: D401
        return self.schema_

    @property
    def notes(self) -> list[str]:
        """Deprecation notes: keys the file had that are accepted but ignored."""
        return self.monitor.notes

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as plain data, keyed as in config.toml."""
        return self.model_dump(mode="json", by_alias=True)


def _format_validation_error(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]).replace("schema_", "schema")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling against `shopctl config show`)"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}: key '{key}': {message}{suffix}"


def parse_settings(data: dict[str, Any], source: Path | str = "<config>") -> Settings:
    """Validate already-parsed TOML data into Settings, naming the file and key on error."""
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(Path(source), error)) from None


def load_settings(path: Path | None) -> Settings:
    """Read config.toml at path (defaults when path is None or absent)."""
    if path is None or not Path(path).exists():
        return Settings()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    return parse_settings(data, path)


def default_config_text() -> str:
    """The documented default config.toml, as `shopctl init` writes it."""
    return DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
