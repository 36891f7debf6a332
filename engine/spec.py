"""TableSpec: which columns of a feature table are inputs, which is the label, and what kind of task it is."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Task = Literal["binary", "regression"]


@dataclass(frozen=True)
class TableSpec:
    """Column roles of a model's input table; shared by features, training, scoring and monitoring."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str | None = None
    task: Task = "binary"
    time_column: str | None = None
    id_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSpec:
        return cls(
            numeric=tuple(data.get("numeric", ())),
            categorical=tuple(data.get("categorical", ())),
            target=data.get("target"),
            task=data.get("task", "binary"),
            time_column=data.get("time_column"),
            id_columns=tuple(data.get("id_columns", ())),
        )
