"""Start-up configuration: defaults that work, and bad values stopped with the variable named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import DEFAULT_API_URL, Settings, WebhookSettings
from news.errors import ConfigError


def settings(**env: str) -> Settings:
    return Settings.from_environment(env, env_file=None)


def test_defaults_use_sqlite_the_public_api_and_the_bundled_sources() -> None:
    s = settings()
    assert s.telegram_api_url == DEFAULT_API_URL
    assert s.database_url == "sqlite:///newsbot.db"
    assert s.poll_interval == timedelta(seconds=300)
    assert 40 <= len(s.sources) <= 60
    assert all(url.startswith("https://") for url in s.sources)


def test_missing_token_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        settings().require_token()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TELEGRAM_BOT_TOKEN", "not a token"),
        ("TELEGRAM_API_URL", "ftp://example.org/bot"),
        ("DATABASE_URL", "mysql://root@localhost/news"),
        ("DATABASE_URL", "::::"),
        ("DATABASE_URL", "postgresql://news:secret@db:5432:9/news"),
        ("DATABASE_URL", "postgresql://db:port/news"),
        ("NEWSBOT_POLL_INTERVAL", "0"),
        ("NEWSBOT_POLL_INTERVAL", "five"),
        ("NEWSBOT_ADMINS", "12,alice"),
        ("NEWSBOT_SOURCES", "/no/such/file.txt"),
        ("NEWSBOT_SEND_RATE", "0"),
        ("NEWSBOT_SEND_RATE", "fast"),
        ("NEWSBOT_SEND_LEASE", "-1"),
        ("NEWSBOT_PARSE_WORKERS", "many"),
        ("NEWSBOT_POLL_CEILING", "0"),
        ("NEWSBOT_MAX_FEED_BYTES", "tiny"),
        ("NEWSBOT_POLL_INTERVAL", "²"),
        ("NEWSBOT_ADMINS", "12,¹"),
        ("NEWSBOT_MAX_FEED_BYTES", "١٠٠٠٠٠"),
        ("NEWSBOT_RETENTION_DAYS", "forever"),
        ("NEWSBOT_RETENTION_DAYS", "-1"),
        ("NEWSBOT_RETENTION_DAYS", "²"),
        ("NEWSBOT_RETENTION_DAYS", "1e9"),
        ("NEWSBOT_RETENTION_DAYS", "99999999999999999999999"),
        ("NEWSBOT_HTTP_PORT", "0"),
        ("NEWSBOT_HTTP_PORT", "65536"),
        ("NEWSBOT_HTTP_PORT", "http"),
        ("NEWSBOT_HTTP_LISTEN", "localhost:8080"),
        ("NEWSBOT_HTTP_LISTEN", "every interface"),
        ("NEWSBOT_WEBHOOK_URL", "http://bot.example.org/telegram"),
        ("NEWSBOT_WEBHOOK_URL", "bot.example.org/telegram"),
        ("NEWSBOT_WEBHOOK_URL", "https://bot.example.org:8080/telegram"),
        ("NEWSBOT_WEBHOOK_URL", "https://bot.example.org:99999/telegram"),
        ("NEWSBOT_WEBHOOK_URL", "https://bot.example.org/telegram?user=1"),
        ("NEWSBOT_WEBHOOK_URL", "https://bot.example.org/tele(gram)+"),
        ("NEWSBOT_WEBHOOK_PORT", "0"),
        ("NEWSBOT_WEBHOOK_PORT", "65536"),
        ("NEWSBOT_WEBHOOK_PORT", "https"),
        ("NEWSBOT_WEBHOOK_LISTEN", "every interface"),
        ("NEWSBOT_WEBHOOK_SECRET", "with space"),
        ("NEWSBOT_WEBHOOK_SECRET", "x" * 257),
        ("NEWSBOT_FETCH_ARTICLES", "sometimes"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        settings(**{variable: value})


def test_sources_file_lines_and_opml(tmp_path: Path) -> None:
    lines = tmp_path / "feeds.txt"
    lines.write_text("# my feeds\nhttps://a.example/rss  # comment\n\nhttps://b.example/atom\n")
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="News">'
        '<outline type="rss" xmlUrl="https://c.example/feed"/></outline></body></opml>'
    )
    assert settings(NEWSBOT_SOURCES=str(lines)).sources == (
        "https://a.example/rss",
        "https://b.example/atom",
    )
    assert settings(NEWSBOT_SOURCES=str(opml)).sources == ("https://c.example/feed",)


def test_a_bad_line_in_the_sources_file_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "feeds.txt"
    path.write_text("https://a.example/rss\nnot a url\n")
    with pytest.raises(ConfigError, match=r"NEWSBOT_SOURCES.*line 2"):
        settings(NEWSBOT_SOURCES=str(path))


def test_dotenv_file_is_read_but_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NEWSBOT_POLL_INTERVAL=60\nNEWSBOT_ADMINS=1,2\n")
    s = Settings.from_environment({"NEWSBOT_ADMINS": "7"}, env_file=env_file)
    assert s.poll_interval == timedelta(seconds=60)
    assert s.admins == frozenset({7})


def test_retention_keeps_90_days_by_default_and_0_keeps_everything() -> None:
    assert settings().retention == timedelta(days=90)
    assert settings(NEWSBOT_RETENTION_DAYS="30").retention == timedelta(days=30)
    assert settings(NEWSBOT_RETENTION_DAYS=" 0 ").retention is None


def test_articles_are_read_by_default_and_0_turns_it_off() -> None:
    assert settings().fetch_articles is True
    assert settings(NEWSBOT_FETCH_ARTICLES="0").fetch_articles is False
    assert settings(NEWSBOT_FETCH_ARTICLES=" off ").fetch_articles is False
    assert settings(NEWSBOT_FETCH_ARTICLES="1").fetch_articles is True


def test_the_sources_file_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "feeds.txt").write_text("https://a.example/rss\n")
    monkeypatch.chdir(tmp_path)
    assert settings(NEWSBOT_SOURCES="feeds.txt").sources_file == str(tmp_path / "feeds.txt")
    assert settings().sources_file == "the bundled list"


def test_long_polling_is_the_default_and_a_webhook_url_switches_to_a_webhook() -> None:
    assert settings().webhook is None
    webhook = settings(NEWSBOT_WEBHOOK_URL="https://bot.example.org/telegram").webhook
    assert webhook == WebhookSettings("https://bot.example.org/telegram", "127.0.0.1", 8443, None)
    assert webhook.path == "/telegram"
    bare = settings(NEWSBOT_WEBHOOK_URL="https://bot.example.org:8443").webhook
    assert bare is not None and bare.path == "/"
    configured = settings(
        NEWSBOT_WEBHOOK_URL="https://bot.example.org:88/hook",
        NEWSBOT_WEBHOOK_LISTEN="::",
        NEWSBOT_WEBHOOK_PORT="8080",
        NEWSBOT_WEBHOOK_SECRET="A-z_09" * 42,
    ).webhook
    assert configured == WebhookSettings(
        "https://bot.example.org:88/hook", "::", 8080, "A-z_09" * 42
    )


def test_a_bad_webhook_secret_is_described_but_never_printed() -> None:
    with pytest.raises(ConfigError) as error:
        settings(NEWSBOT_WEBHOOK_SECRET="almost-right-but-for-the-!")
    assert "NEWSBOT_WEBHOOK_SECRET" in str(error.value)
    assert "almost-right" not in str(error.value)


def test_a_webhook_url_holding_the_bot_token_is_refused_without_printing_it() -> None:
    token = "123456:ABC-secret_part"
    with pytest.raises(
        ConfigError, match="NEWSBOT_WEBHOOK_URL must not contain the bot token"
    ) as error:
        settings(TELEGRAM_BOT_TOKEN=token, NEWSBOT_WEBHOOK_URL=f"https://bot.example.org/{token}")
    assert "secret_part" not in str(error.value)


def test_health_endpoint_is_off_unless_a_port_is_set_and_listens_on_loopback() -> None:
    assert settings().http_port is None
    assert settings(NEWSBOT_HTTP_PORT="9100").http_port == 9100
    assert settings().http_listen == "127.0.0.1"
    assert settings(NEWSBOT_HTTP_LISTEN=" 0.0.0.0 ").http_listen == "0.0.0.0"
    assert settings(NEWSBOT_HTTP_LISTEN="::").http_listen == "::"
