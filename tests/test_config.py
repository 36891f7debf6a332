from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.config import DEFAULT_CONFIG_PATH, Settings, load_settings, parse_settings
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_documented_default_equals_model_defaults() -> None:
    from_file = load_settings(ROOT / "config.toml").to_dict()
    from_model = Settings().to_dict()
    # [schedule.jobs] is declared in the file only; everything else must match the code's defaults.
    from_file["schedule"].pop("jobs")
    from_model["schedule"].pop("jobs")
    assert from_file == from_model


def test_packaged_template_is_the_top_level_config() -> None:
    assert DEFAULT_CONFIG_PATH.read_bytes() == (ROOT / "config.toml").read_bytes()


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[monitor]\nwindw = '1d'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "monitor.windw" in str(caught.value)


def test_wrong_type_names_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[ui]\nrefresh_seconds = 'soon'\n")
    with pytest.raises(ConfigError, match="ui.refresh_seconds"):
        load_settings(path)


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[ui\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_event_mapping_rejects_unknown_type() -> None:
    with pytest.raises(ConfigError, match="schema.events"):
        parse_settings({"schema": {"events": {"addtocart": "basket"}}})


def test_split_must_add_up() -> None:
    with pytest.raises(ConfigError, match="training.split"):
        parse_settings({"training": {"split": [0.5, 0.2, 0.2]}})


def test_default_file_parses_as_toml() -> None:
    data = tomllib.loads((ROOT / "config.toml").read_text())
    assert set(data) >= {"schema", "training", "monitor", "alerts", "schedule", "retrain", "ui"}
