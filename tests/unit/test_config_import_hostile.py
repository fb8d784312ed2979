"""``config import`` fed what it must refuse (issue 11, item 10), through the real command on
the suite's database (PostgreSQL on PostgreSQL runs): each file ends with exit code 3, a
message naming the JSON path of each problem, no traceback, and nothing imported."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.db.engine import Database
from app.services import config_io


def site() -> dict[str, Any]:
    """A small valid configuration, each test spoils one part of."""
    return {
        "format_version": 1,
        "settings": {"organisation_name": "Example Retail", "timezone": "Australia/Sydney"},
        "groups": [{"name": "Customer Service", "description": "", "parent": None}],
        "teams": [{"name": "Front Line", "description": "", "public": True}],
        "users": [
            {
                "login": "alice",
                "display_name": "Alice Agent",
                "email": "alice@example.com",
                "role": "agent",
                "active": True,
                "teams": ["Front Line"],
            }
        ],
        "templates": [
            {"name": "Order status", "subject": "Re: order", "body": "Hi", "body_html": None}
        ],
        "channels": [
            {
                "name": "Support mailbox",
                "email_address": "support@example.com",
                "display_name": "Support",
                "default_campaign": "Orders",
                "enabled": False,
                "imap": {"host": "imap.example.com", "port": 993, "security": "ssl"},
                "smtp": {"host": "smtp.example.com", "port": 587, "security": "starttls"},
                "allow_insecure": False,
                "filters": [
                    {
                        "field": "subject",
                        "match": "contains",
                        "keyword": "order",
                        "campaign": "Orders",
                        "enabled": True,
                    }
                ],
            }
        ],
        "campaigns": [
            {
                "title": "Orders",
                "group": "Customer Service",
                "allow_move": False,
                "service_level_period": 180,
                "teams": ["Front Line"],
                "templates": [{"name": "Order status", "added_on": "2026-11-27T06:59:13+00:00"}],
            }
        ],
    }


def spoiled(change: str, value: Any) -> bytes:
    """``site()`` with the value at ``change`` (a path like ``channels.0.allow_insecure``)
    replaced; ``...`` deletes it."""
    data = copy.deepcopy(site())
    *parents, last = change.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return json.dumps(data).encode()


def deep(levels: int) -> bytes:
    return b'{"groups": ' + b"[" * levels + b"]" * levels + b"}"


# (id, the file's bytes, what the message must say)
BAD_FILES: list[tuple[str, bytes, list[str]]] = [
    ("not-utf8", b'{"groups": [{"name": "Gr\xf6\xdfe"}]}', ["is not UTF-8 text (byte 0xf6"]),
    ("latin1-bom-less", "\ufeff".encode("utf-16") + b"{}", ["is not UTF-8 text"]),
    ("nested-100000", deep(100_000), ["nested too deeply"]),
    ("nested-5000", b"[" * 5000 + b"]" * 5000, ["nested too deeply"]),
    ("array", b'[{"groups": []}]', ["$: must be a JSON object", "not an array"]),
    ("number", b"42", ["$: must be a JSON object", "not 42"]),
    ("string", b'"groups"', ["$: must be a JSON object", 'not the text "groups"']),
    ("not-json", b"{not json", ["is not valid JSON"]),
    ("huge-number", b'{"format_version": ' + b"9" * 5000 + b"}", ["a number has thousands"]),
    (
        "string-false-allow-insecure",
        spoiled("channels.0.allow_insecure", "false"),
        ['$.channels[0].allow_insecure: must be true or false, not the text "false"'],
    ),
    (
        "string-false-team-public",
        spoiled("teams.0.public", "false"),
        ['$.teams[0].public: must be true or false, not the text "false"'],
    ),
    (
        "number-for-boolean",
        spoiled("users.0.active", 0),
        ["$.users[0].active: must be true or false, not 0"],
    ),
    (
        "null-for-boolean",
        spoiled("campaigns.0.allow_move", None),
        ["$.campaigns[0].allow_move: must be true or false, not null"],
    ),
    (
        "unknown-filter-key",
        spoiled("channels.0.filters.0.keywrd", "x"),
        ["$.channels[0].filters[0].keywrd: unknown key (did you mean 'keyword'?)"],
    ),
    ("unknown-top-key", spoiled("chanels", []), ["$.chanels: unknown key"]),
    (
        "unknown-odd-key",
        spoiled("settings.time zone", "UTC"),
        ['$.settings["time zone"]: unknown key'],
    ),
    (
        "text-for-port",
        spoiled("channels.0.imap.port", "993"),
        ['$.channels[0].imap.port: must be a whole number, not the text "993"'],
    ),
    (
        "boolean-for-port",
        spoiled("channels.0.smtp.port", True),
        ["$.channels[0].smtp.port: must be a whole number, not true"],
    ),
    (
        "fraction-for-period",
        spoiled("campaigns.0.service_level_period", 1.5),
        ["$.campaigns[0].service_level_period: must be a whole number, not the number 1.5"],
    ),
    (
        "period-beyond-integer",
        spoiled("campaigns.0.service_level_period", 2**40),
        ["$.campaigns[0].service_level_period: must be from"],
    ),
    (
        "text-for-list",
        spoiled("campaigns.0.teams", "Front Line"),
        ['$.campaigns[0].teams: must be an array ([…]), not the text "Front Line"'],
    ),
    (
        "number-for-name",
        spoiled("groups.0.name", 42),
        ["$.groups[0].name: must be a text, not 42"],
    ),
    ("list-for-object", spoiled("settings", []), ["$.settings: must be an object"]),
    (
        "object-for-item",
        spoiled("templates.0", "Order status"),
        ["$.templates[0]: must be an object"],
    ),
    ("missing-name", spoiled("teams.0.name", ...), ["$.teams[0].name: is required"]),
    (
        "null-not-allowed",
        spoiled("users.0.login", None),
        ["$.users[0].login: must be a text, not null"],
    ),
    (
        "not-a-choice",
        spoiled("channels.0.imap.security", "SSL"),
        ['$.channels[0].imap.security: the text "SSL" is not one of: ssl, starttls, none'],
    ),
    (
        "too-long",
        spoiled("groups.0.name", "G" * 201),
        ["$.groups[0].name: is too long (201 characters, at most 200)"],
    ),
    ("nul", spoiled("templates.0.body", "a\x00b"), ["$.templates[0].body: must not contain"]),
    (
        "lone-surrogate",
        b'{"teams": [{"name": "\\ud800"}]}',
        ["$.teams[0].name: is not valid Unicode"],
    ),
    (
        "given-twice",
        b'{"teams": [{"name": "T", "public": true, "public": "false"}]}',
        ["$.teams[0].public: is given twice", "$.teams[0].public: must be true or false"],
    ),
    (
        "max-recipients-zero",
        spoiled("channels.0.smtp.max_recipients", 0),
        ["$.channels[0].smtp.max_recipients: must be from 1"],
    ),
    (
        "max-recipients-too-many",
        spoiled("channels.0.smtp.max_recipients", 10001),
        ["$.channels[0].smtp.max_recipients: must be from 1 to 10000"],
    ),
    (
        "max-recipients-beside-smtp",
        spoiled("channels.0.max_recipients", 100),
        ["$.channels[0].max_recipients: unknown key"],
    ),
    ("format-version", spoiled("format_version", 2), ["$.format_version: must be 1"]),
    (
        "bad-date",
        spoiled("campaigns.0.templates.0.added_on", "yesterday"),
        ["$.campaigns[0].templates[0].added_on: 'yesterday' is not an ISO 8601"],
    ),
    (
        "refers-to-nothing",
        spoiled("campaigns.0.group", "Nope"),
        ["$.campaigns[0].group: refers to 'Nope', which is not in the file"],
    ),
    (
        "service-check-named-with-its-path",
        spoiled("channels.0.email_address", "not-an-address"),
        ["$.channels[0]: Email Address: 'not-an-address' is not a valid email address"],
    ),
    (
        "port-out-of-range",
        spoiled("channels.0.imap.port", 70000),
        ["$.channels[0]: IMAP Port: must be at most 65535"],
    ),
]


def configuration(db: Database) -> str:
    """What ``config export`` says of the database."""
    return json.dumps(config_io.export_config(db), sort_keys=True)


@pytest.mark.parametrize(
    ("content", "expected"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_a_bad_file_is_refused_with_its_path_and_nothing_is_imported(  # type: ignore[no-untyped-def]
    db: Database, tmp_path: Path, capsys, content: bytes, expected: list[str]
) -> None:
    before = configuration(db)
    path = tmp_path / "site.json"
    path.write_bytes(content)
    code = main(["--database", db.url, "config", "import", str(path)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err
    for words in expected:
        assert words in err
    assert configuration(db) == before


def test_every_problem_of_a_file_is_listed_at_once(db: Database, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = site()
    data["channels"][0]["allow_insecure"] = "false"
    data["channels"][0]["filters"][0]["keywrd"] = data["channels"][0]["filters"][0].pop("keyword")
    data["campaigns"][0]["service_level_period"] = "180"
    data["campaigns"].extend(
        {"title": f"Campaign {n}", "group": "Customer Service", "allow_move": "no"}
        for n in range(31)
    )
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["--database", db.url, "config", "import", str(path)]) == 3
    err = capsys.readouterr().err
    assert "35 problems in the file" in err
    assert "$.campaigns[0].service_level_period: must be a whole number" in err
    assert "$.campaigns[16].allow_move: must be true or false" in err  # the 20th
    assert "$.campaigns[17]" not in err
    assert "$.channels[0].filters[0].keyword: is required" in err
    assert "$.channels[0].filters[0].keywrd: unknown key" in err
    assert "… and 15 more." in err
    assert configuration(db) == site_configuration_empty(db)


def site_configuration_empty(db: Database) -> str:
    with db.session() as s:
        from sqlalchemy import func, select

        from app.db.models import CampaignGroup, Channel, Team, User

        for model in (CampaignGroup, Channel, Team, User):
            assert not s.scalar(select(func.count()).select_from(model))
    return configuration(db)


def test_the_good_file_is_imported_with_its_max_recipients(  # type: ignore[no-untyped-def]
    db: Database, tmp_path: Path, capsys
) -> None:
    """The control for the bad files: the same file unspoiled imports, with the optional
    per-channel ``smtp.max_recipients`` (a whole number from 1 to 10000)."""
    data = site()
    data["channels"][0]["smtp"]["max_recipients"] = 250
    path = tmp_path / "site.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())  # a BOM, as Notepad writes
    assert main(["--database", db.url, "config", "import", str(path)]) == 0, capsys.readouterr().err
    exported = config_io.export_config(db)
    assert exported["channels"][0]["allow_insecure"] is False
    assert exported["channels"][0]["smtp"]["max_recipients"] == 250
    assert exported["channels"][0]["filters"][0]["keyword"] == "order"
    assert [u["login"] for u in exported["users"]] == ["alice"]


def test_a_bad_file_on_standard_input(db: Database, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"teams": "\xff"}')))
    assert main(["--database", db.url, "config", "import", "-"]) == 3
    err = capsys.readouterr().err
    assert "-: is not UTF-8 text (byte 0xff at offset 11)" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [(deep(100_000), "nested too deeply"), (b"\xff\xfe{\x00}\x00", "is not UTF-8 text")],
    ids=["nested-100000", "utf16"],
)
def test_the_installed_command_prints_no_traceback(  # type: ignore[no-untyped-def]
    db: Database, tmp_path: Path, content: bytes, expected: str
) -> None:
    """In a process of its own, as an administrator runs it (the recursion limit and the
    stack are the real ones)."""
    path = tmp_path / "site.json"
    path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "app", "--database", db.url, "config", "import", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and expected in result.stderr
    assert result.stdout == ""


def test_the_documented_example_has_the_documented_shape() -> None:
    """docs/config-format.md's example passes the check the import makes (the table of keys
    there and the check are kept together)."""
    from app.services import config_schema

    doc = (Path(__file__).resolve().parents[2] / "docs" / "config-format.md").read_text("utf-8")
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    assert config_schema.problems(config_io.read_config(example.encode())) == []
