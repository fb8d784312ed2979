"""One unit of work that service calls join (``Database.unit_of_work``), and ``config import``
in one transaction of the target database: a file that fails half-way leaves nothing behind,
``--check`` runs the import there and rolls it back. On the suite's database (PostgreSQL on
PostgreSQL runs)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update

from app.cli import main
from app.db.engine import Database, UnitOfWorkFailed
from app.db.models import CampaignGroup, Team, User
from app.services import config_io
from app.services.auth import SYSTEM
from app.services.campaigns import CampaignService
from app.services.errors import ValidationError
from app.services.people import PeopleService, TeamData
from tests.unit.test_config_import_hostile import configuration, site


def teams(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Team.name)))


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(model)) or 0
            for model in (CampaignGroup, Team, User)
        )


# ---- the unit of work --------------------------------------------------------------------


def test_calls_in_a_unit_share_one_transaction_committed_at_the_end(db: Database) -> None:
    people = PeopleService(db, SYSTEM)
    outside: list[list[str]] = []
    with db.unit_of_work():
        people.create_team(TeamData("Front Line", "", True))
        with db.connection() as conn:  # Core joins too, and sees the ORM's rows
            assert conn.scalar(select(func.count()).select_from(Team)) == 1
            conn.execute(update(Team).values(description="changed by Core"))
        with db.autocommit() as conn:
            assert conn.scalar(select(Team.description)) == "changed by Core"
        # a later call reads what a Core statement wrote, not an object loaded before
        assert PeopleService(db, SYSTEM).list_teams()[0].description == "changed by Core"
        # another thread does not join: it sees nothing before the commit
        reader = threading.Thread(target=lambda: outside.append(teams(db)))
        reader.start()
        reader.join(30)
    assert outside == [[]]
    assert teams(db) == ["Front Line"]


def test_an_error_rolls_the_whole_unit_back(db: Database) -> None:
    people = PeopleService(db, SYSTEM)
    with pytest.raises(ValidationError), db.unit_of_work():
        people.create_team(TeamData("Front Line", "", True))
        people.create_team(TeamData("Escalations", "", True))
        people.create_team(TeamData("front line", "", True))  # taken, whatever the case
    assert teams(db) == []


def test_a_failed_call_fails_the_unit_even_when_its_error_is_caught(db: Database) -> None:
    people = PeopleService(db, SYSTEM)
    with pytest.raises(UnitOfWorkFailed), db.unit_of_work():
        people.create_team(TeamData("Front Line", "", True))
        with pytest.raises(ValidationError):
            people.create_team(TeamData("Front Line", "", True))
        with pytest.raises(UnitOfWorkFailed):  # nothing more is done in it
            people.create_team(TeamData("Escalations", "", True))
    assert teams(db) == []


def test_a_dry_run_rolls_back_and_an_inner_unit_joins_the_outer(db: Database) -> None:
    people = PeopleService(db, SYSTEM)
    with db.unit_of_work(commit=False):
        people.create_team(TeamData("Front Line", "", True))
        with db.unit_of_work():  # joins: committed with the outer one, or not at all
            people.create_team(TeamData("Escalations", "", True))
        assert len(people.list_teams()) == 2
        with pytest.raises(ValueError, match="dry run"), db.unit_of_work(commit=False):
            pass
    assert teams(db) == []
    with db.unit_of_work():
        people.create_team(TeamData("Front Line", "", True))
    assert teams(db) == ["Front Line"]


def test_outside_a_unit_each_call_is_its_own_transaction(db: Database) -> None:
    people = PeopleService(db, SYSTEM)
    people.create_team(TeamData("Front Line", "", True))
    with pytest.raises(ValidationError):
        people.create_team(TeamData("front line", "", True))
    people.create_team(TeamData("Escalations", "", True))
    assert teams(db) == ["Escalations", "Front Line"]


# ---- config import in one transaction ----------------------------------------------------


def failing_half_way() -> dict[str, Any]:
    """A file whose shape is right and whose first sections import: the campaign fails in
    its service, after groups, teams, users, templates and channels were created."""
    data = site()
    data["campaigns"][0]["title"] = 'Say "hi"'
    return data


def test_a_file_failing_half_way_imports_nothing(db: Database, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "site.json"
    path.write_text(json.dumps(failing_half_way()), encoding="utf-8")
    before = configuration(db)
    assert main(["--database", db.url, "config", "import", str(path)]) == 3
    err = capsys.readouterr().err
    assert "$.campaigns[0]: Campaign Title" in err and "quotation marks" in err
    assert configuration(db) == before and counts(db) == (0, 0, 0)


def test_check_imports_on_the_target_database_and_changes_nothing(
    db: Database, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """The check is the import itself, on the target database (its migrated schema, SQLite
    or PostgreSQL): its statements run there, then are rolled back."""
    path = tmp_path / "site.json"
    path.write_text(json.dumps(site()), encoding="utf-8")
    before = configuration(db)
    inserted: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO"):
            inserted.append(statement.split()[2].strip('"'))

    with db.engine.connect():  # (the listener on this database's engine)
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            counts_found = config_io.import_config(db, SYSTEM, site(), check_only=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    assert counts_found == {
        "groups": 1,
        "teams": 1,
        "users": 1,
        "templates": 1,
        "channels": 1,
        "campaigns": 1,
    }
    assert {"campaign_groups", "teams", "users", "templates", "channels", "campaigns"} <= set(
        inserted
    )
    assert configuration(db) == before and counts(db) == (0, 0, 0)

    assert main(["--database", db.url, "config", "import", "--check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "can be imported" in out and "1 campaigns" in out and "Nothing was changed" in out
    assert configuration(db) == before

    path.write_text(json.dumps(failing_half_way()), encoding="utf-8")
    assert main(["--database", db.url, "config", "import", "--check", str(path)]) == 3
    assert "quotation marks" in capsys.readouterr().err
    assert configuration(db) == before

    path.write_text(json.dumps(site()), encoding="utf-8")
    assert main(["--database", db.url, "config", "import", str(path)]) == 0
    assert counts(db) == (1, 1, 1)
    # now the database is not empty: refused, by the check as by the import
    assert main(["--database", db.url, "config", "import", "--check", str(path)]) == 3
    assert "empty database" in capsys.readouterr().err


def test_an_imported_configuration_is_whole(db: Database) -> None:
    """What the services of an import read inside the unit is what the earlier ones wrote
    (the campaign's group, the channel's default campaign), as separate transactions did."""
    config_io.import_config(db, SYSTEM, site())
    exported = config_io.export_config(db)
    assert exported["campaigns"][0]["group"] == "Customer Service"
    assert exported["channels"][0]["default_campaign"] == "Orders"
    assert [c.title for c in CampaignService(db, SYSTEM).list_campaigns()] == ["Orders"]
    with db.connection() as conn:  # one organisation row, the file's
        assert conn.execute(text("SELECT name FROM organisation")).scalars().all() == [
            "Example Retail"
        ]
