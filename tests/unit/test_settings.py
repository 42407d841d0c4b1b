"""HOOKRELAY_* settings (SPEC §2): defaults, one SettingsError naming the variable for every
bad value, the ``dev`` default for private targets, and what production processes require."""

from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest

from hookrelay.delivery.client import DeliveryClient
from hookrelay.settings import Settings, SettingsError, load_settings

H = timedelta(hours=1)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _NotTty(io.StringIO):
    def isatty(self) -> bool:
        return False


# --- defaults (SPEC §2 table) ----------------------------------------------------------------


def test_defaults_match_spec() -> None:
    s = load_settings({})
    assert s.database_url == "sqlite+aiosqlite:///./hookrelay.db"
    assert s.redis_url is None
    assert s.bind == "127.0.0.1:8080"
    assert s.admin_token is None
    assert s.secret_key is None
    assert s.retry_schedule == (timedelta(0), H, 3 * H, 6 * H)
    assert s.delivery_timeout == timedelta(seconds=15)
    assert s.retry_4xx is False
    assert s.breaker_threshold == 10
    assert s.breaker_cooldown == timedelta(minutes=5)
    assert s.disable_after == timedelta(days=3)
    assert s.secret_rotation_grace == timedelta(hours=24)
    assert s.allow_private_targets is False
    assert s.max_payload_bytes == 262_144
    assert s.job_lease == timedelta(seconds=60)
    assert s.job_modules == ()
    assert s.retention == timedelta(days=30)
    assert s.log_format in ("console", "json")
    assert s.api_url == "http://127.0.0.1:8080"
    assert s.api_key is None


def test_defaults_are_sqlite_and_loopback() -> None:
    s = load_settings({})
    assert s.is_sqlite
    assert s.host_and_port == ("127.0.0.1", 8080)


def test_log_format_default_is_json_without_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _NotTty())
    assert load_settings({}).log_format == "json"


def test_log_format_default_is_console_on_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert load_settings({}).log_format == "console"


def test_explicit_log_format_overrides_tty_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert load_settings({"HOOKRELAY_LOG_FORMAT": "json"}).log_format == "json"
    monkeypatch.setattr(sys, "stderr", _NotTty())
    assert load_settings({"HOOKRELAY_LOG_FORMAT": "console"}).log_format == "console"


def test_log_level_defaults_to_info_and_accepts_any_case() -> None:
    assert load_settings({}).log_level == "info"
    assert load_settings({"HOOKRELAY_LOG_LEVEL": "DEBUG"}).log_level == "debug"
    assert load_settings({"HOOKRELAY_LOG_LEVEL": "warning"}).log_level == "warning"


def test_delivery_transport_defaults_to_http1_and_names_the_choices() -> None:
    assert load_settings({}).delivery_transport == "http1"
    settings = load_settings({"HOOKRELAY_DELIVERY_TRANSPORT": "AIOHTTP"})
    assert settings.delivery_transport == "aiohttp"
    assert DeliveryClient.from_settings(settings).transport == "aiohttp"
    assert DeliveryClient.from_settings(load_settings({})).transport == "http1"
    with pytest.raises(SettingsError, match="HOOKRELAY_DELIVERY_TRANSPORT.*http1, aiohttp"):
        load_settings({"HOOKRELAY_DELIVERY_TRANSPORT": "curl"})


def test_given_mapping_is_used_instead_of_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOKRELAY_BIND", "not a bind")
    monkeypatch.setenv("HOOKRELAY_BREAKER_THRESHOLD", "42")
    s = load_settings({})
    assert s.bind == "127.0.0.1:8080"
    assert s.breaker_threshold == 10


def test_process_environment_is_read_when_no_mapping_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOKRELAY_BREAKER_THRESHOLD", "42")
    assert load_settings().breaker_threshold == 42


def test_unrelated_variables_are_ignored() -> None:
    s = load_settings({"PATH": "/bin", "HOOKRELAY_NOT_A_SETTING": "x", "REDIS_URL": "redis://x"})
    assert s == load_settings({})


def test_empty_string_means_unset() -> None:
    env = {
        "HOOKRELAY_DATABASE_URL": "",
        "HOOKRELAY_REDIS_URL": "",
        "HOOKRELAY_BIND": "",
        "HOOKRELAY_RETRY_SCHEDULE": "",
        "HOOKRELAY_DELIVERY_TIMEOUT": "",
        "HOOKRELAY_BREAKER_THRESHOLD": "",
        "HOOKRELAY_RETRY_4XX": "",
        "HOOKRELAY_LOG_FORMAT": "",
    }
    s = load_settings(env)
    assert s == load_settings({})
    assert s.redis_url is None


# --- values that parse -----------------------------------------------------------------------


def test_every_variable_is_read() -> None:
    env = {
        "HOOKRELAY_DATABASE_URL": "postgresql+psycopg://u:p@db/hookrelay",
        "HOOKRELAY_REDIS_URL": "redis://localhost:6379/0",
        "HOOKRELAY_BIND": "0.0.0.0:9000",
        "HOOKRELAY_ADMIN_TOKEN": "admintok",
        "HOOKRELAY_SECRET_KEY": "sekrit",
        "HOOKRELAY_RETRY_SCHEDULE": "0s,30s,5m",
        "HOOKRELAY_DELIVERY_TIMEOUT": "2500ms",
        "HOOKRELAY_RETRY_4XX": "true",
        "HOOKRELAY_BREAKER_THRESHOLD": "3",
        "HOOKRELAY_BREAKER_COOLDOWN": "30s",
        "HOOKRELAY_DISABLE_AFTER": "1d",
        "HOOKRELAY_SECRET_ROTATION_GRACE": "1h",
        "HOOKRELAY_ALLOW_PRIVATE_TARGETS": "yes",
        "HOOKRELAY_MAX_PAYLOAD_BYTES": "1024",
        "HOOKRELAY_JOB_LEASE": "10s",
        "HOOKRELAY_JOB_MODULES": "myapp.jobs, other.jobs",
        "HOOKRELAY_RETENTION": "7d",
        "HOOKRELAY_LOG_FORMAT": "console",
        "HOOKRELAY_API_URL": "https://hooks.example.com",
        "HOOKRELAY_API_KEY": "hr_abcdefghij",
    }
    s = load_settings(env)
    assert s.database_url == "postgresql+psycopg://u:p@db/hookrelay"
    assert not s.is_sqlite
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.bind == "0.0.0.0:9000"
    assert s.host_and_port == ("0.0.0.0", 9000)
    assert s.admin_token == "admintok"
    assert s.secret_key == "sekrit"
    assert s.retry_schedule == (timedelta(0), timedelta(seconds=30), timedelta(minutes=5))
    assert s.delivery_timeout == timedelta(milliseconds=2500)
    assert s.retry_4xx is True
    assert s.breaker_threshold == 3
    assert s.breaker_cooldown == timedelta(seconds=30)
    assert s.disable_after == timedelta(days=1)
    assert s.secret_rotation_grace == H
    assert s.allow_private_targets is True
    assert s.max_payload_bytes == 1024
    assert s.job_lease == timedelta(seconds=10)
    assert s.job_modules == ("myapp.jobs", "other.jobs")
    assert s.retention == timedelta(days=7)
    assert s.log_format == "console"
    assert s.api_url == "https://hooks.example.com"
    assert s.api_key == "hr_abcdefghij"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        (" true ", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans(raw: str, expected: bool) -> None:
    assert load_settings({"HOOKRELAY_RETRY_4XX": raw}).retry_4xx is expected
    assert load_settings({"HOOKRELAY_ALLOW_PRIVATE_TARGETS": raw}).allow_private_targets is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a", ("a",)),
        ("a,b", ("a", "b")),
        (" a , b ,, c ,", ("a", "b", "c")),
        ("", ()),
        (",", ()),
    ],
)
def test_job_modules(raw: str, expected: tuple[str, ...]) -> None:
    assert load_settings({"HOOKRELAY_JOB_MODULES": raw}).job_modules == expected


@pytest.mark.parametrize(
    ("raw", "host_port"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::]:443", ("::", 443)),
    ],
)
def test_valid_binds(raw: str, host_port: tuple[str, int]) -> None:
    s = load_settings({"HOOKRELAY_BIND": raw})
    assert s.bind == raw
    assert s.host_and_port == host_port


def test_settings_are_frozen_and_overridable() -> None:
    s = load_settings({})
    with pytest.raises(AttributeError):
        s.bind = "0.0.0.0:1"  # type: ignore[misc]
    t = s.with_overrides(bind="0.0.0.0:1", breaker_threshold=2)
    assert t.bind == "0.0.0.0:1" and t.breaker_threshold == 2
    assert s.bind == "127.0.0.1:8080" and s.breaker_threshold == 10


# --- every bad value names its variable ------------------------------------------------------

DURATION_VARS = [
    "HOOKRELAY_DELIVERY_TIMEOUT",
    "HOOKRELAY_BREAKER_COOLDOWN",
    "HOOKRELAY_DISABLE_AFTER",
    "HOOKRELAY_SECRET_ROTATION_GRACE",
    "HOOKRELAY_JOB_LEASE",
    "HOOKRELAY_RETENTION",
]
INT_VARS = ["HOOKRELAY_BREAKER_THRESHOLD", "HOOKRELAY_MAX_PAYLOAD_BYTES"]
BOOL_VARS = ["HOOKRELAY_RETRY_4XX", "HOOKRELAY_ALLOW_PRIVATE_TARGETS"]

BAD_VALUES: list[tuple[str, str]] = (
    [(v, raw) for v in DURATION_VARS for raw in ("5x", "10", "-1s", "fast", "0s", "0ms", "1h,2h")]
    + [(v, raw) for v in INT_VARS for raw in ("abc", "1.5", "0", "-3", "10k", "ten")]
    + [(v, raw) for v in BOOL_VARS for raw in ("maybe", "2", "y", "enabled", "tru")]
    + [
        ("HOOKRELAY_BIND", raw)
        for raw in (
            "8080",
            ":8080",
            "localhost",
            "localhost:",
            "localhost:http",
            "localhost:0",
            "localhost:65536",
            "localhost:-1",
            "localhost:99999",
        )
    ]
    + [("HOOKRELAY_LOG_FORMAT", raw) for raw in ("text", "pretty", "xml", "jsonl", "plain")]
    + [("HOOKRELAY_LOG_LEVEL", raw) for raw in ("verbose", "trace", "20", "critical!")]
    + [
        ("HOOKRELAY_RETRY_SCHEDULE", raw)
        for raw in ("0s,,1h", "0s,1h,", ",", "0s,1x", "soon", "0s;1h", "10,20")
    ]
)


@pytest.mark.parametrize(("variable", "raw"), BAD_VALUES, ids=lambda v: str(v))
def test_bad_value_raises_settings_error_naming_variable(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({variable: raw})
    assert variable in str(info.value)


@pytest.mark.parametrize("variable", [*DURATION_VARS, "HOOKRELAY_RETRY_SCHEDULE"])
def test_out_of_range_duration_raises_settings_error_naming_variable(variable: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({variable: "9999999999d"})
    assert variable in str(info.value)


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_first_bad_variable_does_not_hide_behind_a_good_one() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"HOOKRELAY_BIND": "0.0.0.0:9000", "HOOKRELAY_JOB_LEASE": "forever"})
    assert "HOOKRELAY_JOB_LEASE" in str(info.value)
    assert "HOOKRELAY_BIND" not in str(info.value)


# --- dev -------------------------------------------------------------------------------------


def test_dev_allows_private_targets_by_default() -> None:
    assert load_settings({}, dev=True).allow_private_targets is True
    assert load_settings({}, dev=False).allow_private_targets is False


@pytest.mark.parametrize("raw", ["false", "0", "no", "off"])
def test_dev_respects_explicit_false(raw: str) -> None:
    env = {"HOOKRELAY_ALLOW_PRIVATE_TARGETS": raw}
    assert load_settings(env, dev=True).allow_private_targets is False


def test_explicit_true_outside_dev() -> None:
    env = {"HOOKRELAY_ALLOW_PRIVATE_TARGETS": "true"}
    assert load_settings(env).allow_private_targets is True
    assert load_settings(env, dev=True).allow_private_targets is True


def test_dev_changes_nothing_else() -> None:
    dev = load_settings({}, dev=True)
    assert dev.with_overrides(allow_private_targets=False) == load_settings({})


def test_dev_still_validates() -> None:
    with pytest.raises(SettingsError, match="HOOKRELAY_ALLOW_PRIVATE_TARGETS"):
        load_settings({"HOOKRELAY_ALLOW_PRIVATE_TARGETS": "sometimes"}, dev=True)


# --- require_production_services -------------------------------------------------------------

FULL = {
    "HOOKRELAY_REDIS_URL": "redis://localhost:6379/0",
    "HOOKRELAY_ADMIN_TOKEN": "admintok",
    "HOOKRELAY_SECRET_KEY": "sekrit",
}


def test_production_services_present_passes() -> None:
    assert load_settings(FULL).require_production_services() is None


@pytest.mark.parametrize("missing", list(FULL))
def test_production_services_missing_names_variable(missing: str) -> None:
    env = {k: v for k, v in FULL.items() if k != missing}
    with pytest.raises(SettingsError) as info:
        load_settings(env).require_production_services()
    assert missing in str(info.value)


@pytest.mark.parametrize("missing", list(FULL))
def test_production_services_empty_value_counts_as_missing(missing: str) -> None:
    env = {**FULL, missing: ""}
    with pytest.raises(SettingsError, match=missing):
        load_settings(env).require_production_services()


def test_defaults_fail_production_check_on_redis_first() -> None:
    with pytest.raises(SettingsError, match="HOOKRELAY_REDIS_URL"):
        Settings().require_production_services()


def test_redis_message_points_at_dev() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({}).require_production_services()
    assert "hookrelay dev" in str(info.value)
