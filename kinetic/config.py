"""Settings resolution: decorator argument > ``KINETIC_*`` variable > profile file > default.

``None`` always means "not set", so it falls through to the next source. Every resolved value
remembers its source, which plans and error messages show.

The profile file is TOML, at ``~/.config/kinetic/config.toml`` (``KINETIC_CONFIG`` overrides the
path). Top-level keys form the default profile; ``[profiles.NAME]`` tables override them when
``KINETIC_PROFILE=NAME`` (or ``profile=`` on the decorator) selects one::

    backend = "docker"
    registry = "127.0.0.1:5000/kinetic"

    [profiles.prod]
    backend = "gke"
    cluster = "projects/my-project/locations/us-central1/clusters/ml"

    [prices.v5e]          # override the built-in price table, per chip (or GPU) per hour
    on_demand = 1.10
    spot = 0.22
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kinetic.errors import ConfigError

BACKENDS = ("local", "docker", "gke")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass(frozen=True)
class SettingDefinition:
    """One setting: its name, how to parse its environment variable, and its default."""

    name: str
    parse: Callable[[str], Any] = str
    default: Any = None
    help: str = ""

    @property
    def env_var(self) -> str:
        return "KINETIC_" + self.name.upper()


SETTINGS: dict[str, SettingDefinition] = {
    definition.name: definition for definition in (
        SettingDefinition("backend", str, None, "local, docker or gke"),
        SettingDefinition("accelerator", str, "cpu", "accelerator name, e.g. tpu-v5e-8"),
        SettingDefinition("store", str, None, "store location (a folder)"),
        SettingDefinition("cluster", str, None, "GKE cluster: projects/P/locations/L/clusters/C"),
        SettingDefinition("namespace", str, "default", "Kubernetes namespace"),
        SettingDefinition("registry", str, None, "image registry, e.g. 127.0.0.1:5000/kinetic"),
        SettingDefinition("base_image", str, None, "base image of the job's container"),
        SettingDefinition("builder", str, "docker", "image builder: docker or cloudbuild"),
        SettingDefinition("timeout", float, None, "job deadline in seconds"),
        SettingDefinition("env", _parse_list, (), "environment variable names or globs"),
        SettingDefinition("secrets", _parse_list, (), "environment variables sent as secrets"),
        SettingDefinition("max_payload_bytes", int, 2 * 1024 ** 3, "payload size limit"),
        SettingDefinition("keep", _parse_bool, False, "keep containers and work folders"),
        SettingDefinition("spot", _parse_bool, False, "run on Spot capacity"),
        SettingDefinition("reservation", str, None, "reservation name"),
        SettingDefinition("max_preemption_retries", int, 3, "retries after preemption"),
        SettingDefinition("build_network", str, None, "network mode for image builds"),
        SettingDefinition("build_ca_cert", str, None, "extra CA certificate file for builds"),
        SettingDefinition("pip_index_url", str, None, "pip index URL for builds"),
    )
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; ``sources`` maps each name to where its value came from."""

    values: dict[str, Any]
    sources: dict[str, str]
    profile: str | None = None
    prices: dict[str, dict[str, float]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def config_path() -> Path:
    override = os.environ.get("KINETIC_CONFIG")
    if override:
        return Path(override).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(config_home) / "kinetic" / "config.toml"


def load_profile(name: str | None) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Read the profile file; return (settings of the selected profile, price overrides)."""
    path = config_path()
    if not path.exists():
        if name:
            raise ConfigError(f"profile {name!r} was requested but the profile file {path} does "
                              f"not exist; create it or unset KINETIC_PROFILE")
        return {}, {}
    data = _read_toml(path)
    profiles = data.pop("profiles", {})
    prices = data.pop("prices", {})
    values = dict(data)
    if name:
        if name not in profiles:
            raise ConfigError(f"profile {name!r} is not in {path}; profiles there: "
                              f"{', '.join(sorted(profiles)) or 'none'}")
        selected = dict(profiles[name])
        prices = {**prices, **selected.pop("prices", {})}
        values.update(selected)
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} in {path}; valid settings: "
                          f"{', '.join(sorted(SETTINGS))}")
    if prices:
        from kinetic.accelerators import validate_price_overrides

        try:
            prices = validate_price_overrides(prices)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (in the profile file {path})") from exc
    return values, prices


def resolve(arguments: dict[str, Any], profile: str | None = None) -> Settings:
    """Resolve every setting from decorator ``arguments``, the environment and the profile."""
    unknown = sorted(set(arguments) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid settings: "
                          f"{', '.join(sorted(SETTINGS))}")
    profile = profile or os.environ.get("KINETIC_PROFILE") or None
    profile_values, prices = load_profile(profile)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, definition in SETTINGS.items():
        value, source = _resolve_one(definition, arguments.get(name), profile_values.get(name),
                                     profile)
        values[name] = value
        sources[name] = source
    return Settings(values, sources, profile, prices)


def _resolve_one(definition: SettingDefinition, argument: Any, profile_value: Any,
                 profile: str | None) -> tuple[Any, str]:
    if argument is not None:
        return argument, "argument"
    raw = os.environ.get(definition.env_var)
    if raw is not None and raw != "":
        try:
            return definition.parse(raw), f"environment variable {definition.env_var}"
        except ValueError as exc:
            raise ConfigError(f"{definition.env_var}={raw!r} is invalid: {exc}; it should be "
                              f"{definition.help}") from exc
    if profile_value is not None:
        return profile_value, f"profile {profile or 'default'} in {config_path()}"
    return definition.default, "default"


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the profile file {path} is not valid TOML: {exc}") from exc
