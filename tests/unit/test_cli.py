"""The command line: config export/import round trip, demo, passwords, errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.db.engine import Database
from app.services import auth
from tests.conftest import sign_in_as


def run(*args: str) -> int:
    return main(list(args))


def test_config_round_trip_is_identical(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    first = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    second = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    assert run("--database", first, "demo") == 0
    assert run("--database", first, "config", "export", str(tmp_path / "a.json")) == 0
    assert run("--database", second, "config", "import", str(tmp_path / "a.json")) == 0
    assert run("--database", second, "config", "export", str(tmp_path / "b.json")) == 0
    a = (tmp_path / "a.json").read_text(encoding="utf-8")
    assert a == (tmp_path / "b.json").read_text(encoding="utf-8")
    data = json.loads(a)
    assert set(data) >= {
        "settings",
        "groups",
        "teams",
        "users",
        "templates",
        "channels",
        "campaigns",
    }
    campaign = next(c for c in data["campaigns"] if c["title"] == "Größe – 5 € Aktion")
    assert campaign["service_level_period"] == 240 and campaign["email_channel"] is None
    assert campaign["teams"] == ["Sales Desk"]
    assert [t["name"] for t in campaign["templates"]] == ["Rückfrage (Deutsch)", "Sales follow-up"]
    assert all("password" not in json.dumps(u) for u in data["users"])
    assert "demo-password" not in a and "scrypt" not in a
    support = next(c for c in data["channels"] if c["name"] == "Support mailbox")
    assert [f["campaign"] for f in support["filters"]] == [
        "Orders",
        "Returns",
        "Complaints",
        "Sales Leads",
    ]


def test_imported_users_have_no_password_until_one_is_set(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    second = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    run("--database", first, "demo")
    run("--database", first, "config", "export", str(tmp_path / "a.json"))
    run("--database", second, "config", "import", str(tmp_path / "a.json"))
    db = Database(second)
    with pytest.raises(auth.AuthenticationError):
        sign_in_as(db, "alice", "demo-password")
    assert auth.demo_accounts(db) == []
    monkeypatch.setattr(sys, "stdin", io.StringIO("fresh-password\n"))
    assert run("--database", second, "user", "set-password", "alice") == 0
    assert sign_in_as(db, "alice", "fresh-password").login == "alice"


def test_import_errors_name_the_field(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "groups": [{"name": "G"}],
                "campaigns": [{"title": 'Say "hi"', "group": "G"}],
            }
        ),
        encoding="utf-8",
    )
    assert run("--database", url, "config", "import", str(bad)) == 3
    err = capsys.readouterr().err
    assert "Campaign Title" in err and "quotation marks" in err

    bad.write_text("{not json", encoding="utf-8")
    assert run("--database", url, "config", "import", str(bad)) == 3
    assert "not valid JSON" in capsys.readouterr().err

    assert run("--database", url, "config", "import", str(tmp_path / "missing.json")) == 3
    assert "cannot be read" in capsys.readouterr().err

    bad.write_text(
        json.dumps({"groups": [{"name": "G"}], "campaigns": [{"title": "C", "group": "Nope"}]})
    )
    assert (
        run("--database", f"sqlite:///{tmp_path / 'y.sqlite3'}", "config", "import", str(bad)) == 3
    )
    assert "refers to 'Nope'" in capsys.readouterr().err


def test_import_refuses_a_database_with_configuration(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    run("--database", url, "demo")
    run("--database", url, "config", "export", str(tmp_path / "a.json"))
    assert run("--database", url, "config", "import", str(tmp_path / "a.json")) == 3
    assert "empty database" in capsys.readouterr().err


def test_demo_refuses_a_database_with_users(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    assert run("--database", url, "demo") == 0
    assert run("--database", url, "demo") == 3
    assert "empty database" in capsys.readouterr().err


def test_channel_set_password_uses_the_keyring(tmp_path: Path, monkeypatch, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    run("--database", url, "demo")
    monkeypatch.setattr(sys, "stdin", io.StringIO("smtp-secret-42\n"))
    assert run("--database", url, "channel", "set-password", "Sales mailbox", "--outbound") == 0
    assert list(memory_keyring.secrets.values()) == ["smtp-secret-42"]
    assert b"smtp-secret-42" not in (tmp_path / "x.sqlite3").read_bytes()


def test_unknown_channel_and_unreachable_database(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    run("--database", url, "demo")
    assert run("--database", url, "channel", "set-password", "Nope", "--inbound") == 3
    assert "no email channel named 'Nope'" in capsys.readouterr().err
    code = run("--database", "postgresql://nobody@127.0.0.1:1/none", "db", "upgrade")
    assert code == 4
    assert "Cannot open the database" in capsys.readouterr().err


def test_the_console_script_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--database",
            f"sqlite:///{tmp_path / 'z.sqlite3'}",
            "config",
            "export",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["campaigns"] == []


# ---- a site's first administrator (issue 11, item 12) -----------------------------------


def test_user_create_makes_a_sites_first_administrator(  # type: ignore[no-untyped-def]
    db: Database, monkeypatch, capsys
) -> None:
    """On PostgreSQL runs ``db`` is an empty PostgreSQL database, as a site's is."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-enough-password\n"))
    assert run("--database", db.url, "user", "create", "root", "--role", "administrator") == 0
    assert "'root' (administrator) created" in capsys.readouterr().out
    actor = sign_in_as(db, "root", "a-long-enough-password")
    assert actor.role == auth.Role.ADMINISTRATOR and actor.display_name == "root"
    assert auth.demo_accounts(db) == []
    # the password is checked as everywhere; a login is taken once
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert run("--database", db.url, "user", "create", "ann", "--role", "agent") == 3
    assert "Password" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("another-long-password\n"))
    args = ["user", "create", "root", "--role", "agent", "--display-name", "Root Again"]
    assert run("--database", db.url, *args) == 3
    assert "root" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # a role is required, and one of the three
        run("--database", db.url, "user", "create", "ann", "--role", "boss")
    assert exited.value.code == 2


@pytest.mark.parametrize("given", ["\n", ""])  # an empty line; no input at all
def test_set_password_refuses_empty_input_and_changes_nothing(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, memory_keyring, capsys, given
) -> None:
    """Issue 11, item 13: an empty channel password deleted the stored one, yet the command
    said it was kept."""
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    run("--database", url, "demo")
    monkeypatch.setattr(sys, "stdin", io.StringIO("smtp-secret-42\n"))
    assert run("--database", url, "channel", "set-password", "Sales mailbox", "--outbound") == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(given))
    assert run("--database", url, "channel", "set-password", "Sales mailbox", "--outbound") == 3
    out, err = capsys.readouterr()
    assert "outbound password: the input was empty" in err and "nothing was changed" in err
    assert "kept" not in out
    assert list(memory_keyring.secrets.values()) == ["smtp-secret-42"]  # still stored
    monkeypatch.setattr(sys, "stdin", io.StringIO(given))
    assert run("--database", url, "user", "set-password", "alice") == 3
    assert "password: the input was empty" in capsys.readouterr().err
    assert sign_in_as(Database(url), "alice", "demo-password").login == "alice"  # unchanged
