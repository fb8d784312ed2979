"""Roles enforced by PostgreSQL (issue 13, item 1): each person signs in with their own
login, and the database itself refuses what their role may not do — tried with the raw SQL
an attacker would type on their own login, and with the application's services.

Each site here has a role prefix of its own (the logins are the cluster's: sites, and test
databases, share it)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from app.db import migrate, security
from app.db.engine import Database
from app.db.models import Role, User
from app.services import demo
from app.services.auth import SYSTEM, WRONG
from app.services.campaigns import CampaignService
from app.services.errors import AuthenticationError, PermissionDenied, ValidationError
from app.services.people import PeopleService, UserData
from app.services.replying import ReplyText
from app.services.site import SignedIn, SiteAccess, SiteUnavailable
from app.services.work import WorkService
from tests.conftest import ON_POSTGRES
from tests.servers.postgres import PostgresServer
from tests.work_data import add_email

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's roles: the PostgreSQL run has them"),
]
PASSWORD = demo.DEMO_PASSWORD
_sites = itertools.count(1)


@dataclass
class SecuredSite:
    owner: Database  # the schema's owner (the site's set-up, and the tests' checks)
    prefix: str
    name: str

    def url(self, **query: str) -> str:
        url = make_url(self.owner.url).set(username=None, password=None)
        return url.update_query_dict(query).render_as_string(hide_password=False)

    def access(self) -> SiteAccess:
        return SiteAccess(self.url(role_prefix=self.prefix))

    def dsn(self, login: str, password: str = PASSWORD) -> str:
        u = make_url(self.owner.url)
        return (
            f"host={u.host} port={u.port} dbname={u.database} "
            f"user={self.prefix}{login} password={password}"
        )


@pytest.fixture
def site(postgres_server: PostgresServer) -> Iterator[SecuredSite]:
    """A new site with the demo organisation and a role prefix of its own."""
    n = next(_sites)
    name = f"roles_{os.getpid()}_{n}"
    prefix = f"s{os.getpid()}x{n}_"
    owner = Database(postgres_server.create_database(name))
    migrate.upgrade(owner, role_prefix=prefix)
    demo.seed(owner)
    yield SecuredSite(owner, prefix, name)
    owner.dispose()
    postgres_server.drop_database(name)


def refused(conn: psycopg.Connection, statement: str, *args: object) -> str:
    """The database's refusal of ``statement`` (it must refuse)."""
    with pytest.raises(psycopg.Error) as info, conn.transaction():
        conn.execute(statement, args or None)
    return str(info.value)


def user_id(db: Database, login: str) -> int:
    with db.session() as s:
        return s.query(User).filter_by(login=login).one().id


def campaign_id(db: Database, title: str) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT id FROM campaigns WHERE title = :t"), {"t": title}
            ).scalar_one()
        )


# ---- an attacker on an agent's own login ----------------------------------------------------


def test_an_agent_reads_and_changes_only_their_teams_emails(site: SecuredSite) -> None:
    mine = add_email(site.owner, "Orders", subject="Mine to answer")
    theirs = add_email(site.owner, "Complaints", subject="Another team's")  # Escalations
    with psycopg.connect(site.dsn("alice"), autocommit=True) as conn:
        subjects = [row[0] for row in conn.execute("SELECT subject FROM emails")]
        assert subjects == ["Mine to answer"]
        assert conn.execute("SELECT count(*) FROM emails WHERE id = %s", (theirs,)).fetchone() == (
            0,
        )
        changed = conn.execute(
            "UPDATE emails SET status = 'closed' WHERE id = %s", (theirs,)
        ).rowcount
        assert changed == 0
        assert "row-level security" in refused(
            conn,
            "INSERT INTO history (email_id, at, action, detail) VALUES (%s, now(), 'x', 'y')",
            theirs,
        )
        assert "row-level security" in refused(
            conn,
            "INSERT INTO replies (email_id, message_id, state, to_addrs, subject, body, "
            "cc_addrs, bcc_addrs, attempts, created_at) "
            "VALUES (%s, '<x@y>', 'queued', 'a@b', 's', 'b', '', '', 0, now())",
            theirs,
        )
        assert conn.execute(
            "SELECT count(*) FROM attachments a JOIN emails e ON e.id = a.email_id WHERE e.id = %s",
            (theirs,),
        ).fetchone() == (0,)
        # their own team's email they may work on
        assert (
            conn.execute("UPDATE emails SET taken_at = now() WHERE id = %s", (mine,)).rowcount == 1
        )
        assert "permission denied" in refused(conn, "DELETE FROM emails WHERE id = %s", mine)
        assert "permission denied" in refused(
            conn, "INSERT INTO emails (subject, raw, status) VALUES ('forged', '', 'queued')"
        )


def test_an_agent_cannot_change_the_configuration_nor_read_secrets(site: SecuredSite) -> None:
    admin = user_id(site.owner, "admin")
    with psycopg.connect(site.dsn("alice"), autocommit=True) as conn:
        for statement in (
            "UPDATE campaigns SET title = 'Hijacked'",
            "DELETE FROM campaign_teams",
            "INSERT INTO team_members (team_id, user_id) SELECT id, ec_me() FROM teams",
            "UPDATE organisation SET name = 'Hijacked'",
            "UPDATE channels SET smtp_host = 'evil.example'",
            "SELECT * FROM users",
            "SELECT password_hash FROM users",
            "SELECT * FROM sign_in_failures",
            "UPDATE users SET role = 'administrator' WHERE login = 'alice'",
            "INSERT INTO users (login, display_name, role, active, is_demo, email) "
            "VALUES ('mallory', 'M', 'administrator', true, false, '')",
            "DELETE FROM users",
            "SELECT * FROM leases",
        ):
            assert "permission denied" in refused(conn, statement), statement
        # colleagues' names, which the screens show, are readable
        names = {row[0] for row in conn.execute("SELECT login FROM users")}
        assert {"admin", "alice", "bob"} <= names
        # a colleague's sign of life cannot be written
        assert (
            conn.execute("UPDATE users SET last_seen_at = now() WHERE login = 'bob'").rowcount == 0
        )
        assert (
            conn.execute("UPDATE users SET last_seen_at = now() WHERE login = 'alice'").rowcount
            == 1
        )
        # roles: neither made, nor granted, nor taken
        admins = security.group_role(site.prefix, "administrator")
        assert "permission denied" in refused(conn, "CREATE ROLE mallory LOGIN PASSWORD 'x'")
        assert "admin option" in refused(conn, f'GRANT "{admins}" TO "{site.prefix}alice"')
        assert "permission" in refused(conn, f'SET ROLE "{admins}"')
        assert "permission" in refused(conn, f'ALTER ROLE "{site.prefix}alice" CREATEROLE')
        assert "permission denied" in refused(
            conn, "SELECT ec_sync_login('alice', 'alice', 'administrator', true)"
        )
        assert "permission denied" in refused(conn, "SELECT ec_drop_login('admin')")
        assert "permission denied" in refused(conn, "SELECT ec_service_login('evil', 'x')")
        verifier = conn.pgconn.encrypt_password(
            b"taken-over", f"{site.prefix}admin".encode(), b"scram-sha-256"
        )
        assert "administrator" in refused(
            conn, "SELECT ec_set_password(%s, %s)", admin, verifier.decode()
        )
    # the administrator's password is still theirs
    psycopg.connect(site.dsn("admin")).close()


def test_the_command_line_on_an_agents_login_cannot_make_them_administrator(
    site: SecuredSite,
) -> None:
    u = make_url(site.owner.url).set(username=f"{site.prefix}alice", password=PASSWORD)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--database",
            u.render_as_string(hide_password=False),
            "user",
            "set-password",
            "admin",
        ],
        input="taken-over-now\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert run.returncode != 0, run.stdout
    assert "refused" in run.stderr.lower() or "permission" in run.stderr.lower(), run.stderr
    psycopg.connect(site.dsn("admin")).close()  # unchanged
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(site.dsn("admin", "taken-over-now")).close()


# ---- the application on each person's own login ---------------------------------------------


def signed_in(site: SecuredSite, login: str) -> SignedIn:
    return site.access().sign_in(login, PASSWORD)


def who_signs_in(access: SiteAccess, login: str, password: str) -> str:
    """The display name of whoever signs in so (then signed out)."""
    found = access.sign_in(login, password)
    access.release(found)
    return found.actor.display_name


def test_an_agent_works_on_their_own_login(site: SecuredSite) -> None:
    first = add_email(site.owner, "Orders", subject="Parcel missing")
    add_email(site.owner, "Complaints", subject="Not for alice")
    alice = signed_in(site, "alice")
    try:
        assert alice.db is not site.owner and alice.actor.login == "alice"
        work = WorkService(alice.db, alice.actor)
        opened = work.take_and_open()
        assert opened is not None and opened.item.email_id == first
        work.save_draft(first, ReplyText(to="zoe@customers.example", subject="Re", body="Soon"))
        work.put_back(first)
        again = work.take_and_open()
        assert again is not None and again.item.email_id == first
        template = again.templates[0]
        work.send(
            first,
            ReplyText(
                to="zoe@customers.example",
                subject="Re: Parcel",
                body="On its way",
                template_id=template.template_id,
            ),
        )
        assert work.take_and_open() is None  # the Complaints email is not hers to take
        with pytest.raises(PermissionDenied):  # refused by the services first
            CampaignService(alice.db, alice.actor).update_campaign(
                campaign_id(site.owner, "Orders"),
                None,
                None,  # type: ignore[arg-type]
            )
    finally:
        site.access().release(alice)
    with site.owner.engine.connect() as conn:
        state = conn.execute(text("SELECT status FROM emails WHERE id = :i"), {"i": first}).scalar()
        replies = conn.execute(
            text("SELECT count(*) FROM replies WHERE email_id = :i"), {"i": first}
        ).scalar()
    assert state == "actioned" and replies == 1


def test_a_supervisor_sees_every_email_but_cannot_manage_users(site: SecuredSite) -> None:
    add_email(site.owner, "Orders")
    add_email(site.owner, "Sales Leads")
    with psycopg.connect(site.dsn("sam"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM emails").fetchone() == (2,)
        assert (
            conn.execute(
                "UPDATE campaigns SET description = 'Checked' WHERE title = 'Orders'"
            ).rowcount
            == 1
        )
        assert "permission denied" in refused(
            conn, "UPDATE users SET role = 'administrator' WHERE login = 'sam'"
        )
        assert "permission denied" in refused(conn, "UPDATE channels SET enabled = false")


def test_an_administrators_user_management_makes_the_logins(site: SecuredSite) -> None:
    admin = signed_in(site, "admin")
    access = site.access()
    try:
        people = PeopleService(admin.db, admin.actor)
        dana = people.create_user(UserData("dana", "Dana New", role=Role.AGENT), "dana-password")
        assert who_signs_in(access, "dana", "dana-password") == "Dana New"
        assert_groups(site, "dana", {"agent"})
        people.update_user(dana.id, UserData("dana", "Dana New", role=Role.SUPERVISOR))
        assert_groups(site, "dana", {"supervisor"})
        people.update_user(dana.id, UserData("dana.s", "Dana New", role=Role.SUPERVISOR))
        assert who_signs_in(access, "dana.s", "dana-password") == "Dana New"
        with pytest.raises(AuthenticationError):
            who_signs_in(access, "dana", "dana-password")
        people.set_password(dana.id, "another-password")
        people.update_user(
            dana.id, UserData("dana.s", "Dana New", role=Role.SUPERVISOR, active=False)
        )
        with pytest.raises(AuthenticationError, match=WRONG):
            who_signs_in(access, "dana.s", "another-password")
        people.delete_user(dana.id)
        with admin.db.engine.connect() as conn:
            gone = conn.execute(
                text("SELECT count(*) FROM pg_roles WHERE rolname = :r"),
                {"r": f"{site.prefix}dana.s"},
            ).scalar()
        assert gone == 0
    finally:
        access.release(admin)


def assert_groups(site: SecuredSite, login: str, kinds: set[str]) -> None:
    with site.owner.engine.connect() as conn:
        found = {
            str(name)
            for (name,) in conn.execute(
                text(
                    "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                    "JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = :r"
                ),
                {"r": f"{site.prefix}{login}"},
            )
        }
    assert found == {security.group_role(site.prefix, k) for k in kinds}


def test_login_names_postgresql_cannot_take_are_refused_when_the_user_is_made(
    site: SecuredSite, postgres_server: PostgresServer
) -> None:
    people = PeopleService(site.owner, SYSTEM)
    with psycopg.connect(postgres_server._admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{site.prefix}mallory" LOGIN')  # not the site's
        conn.execute(f'CREATE ROLE "{site.prefix}Carol"')
    cases = {
        "x" * 60: "too long",
        "mallory": "did not create",
        "carol": "letter case",
    }
    for login, words in cases.items():
        with pytest.raises(ValidationError, match=words) as info:
            people.create_user(UserData(login, "Someone"), "some-password")
        assert info.value.field == "Login Name"
    with site.owner.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM users WHERE login IN ('mallory', 'carol')")
            ).scalar()
            == 0
        )
    if not site.prefix:
        with pytest.raises(ValidationError, match="pg_"):
            people.create_user(UserData("pg_monitor", "Someone"), None)


def test_passwords_reach_the_server_as_verifiers_only(
    site: SecuredSite, postgres_server: PostgresServer
) -> None:
    with psycopg.connect(postgres_server._admin_dsn(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{site.name}\" SET log_statement = 'all'")
    people = PeopleService(Database(site.owner.url), SYSTEM)
    try:
        people.set_password(user_id(site.owner, "bob"), "Never-In-The-Log-42")
    finally:
        people.db.dispose()
    log = postgres_server.log.read_text(errors="replace")
    assert "ec_set_password" in log and "SCRAM-SHA-256$" in log
    assert "Never-In-The-Log-42" not in log
    psycopg.connect(site.dsn("bob", "Never-In-The-Log-42")).close()


def test_two_sites_share_a_cluster_and_stay_apart(
    site: SecuredSite, postgres_server: PostgresServer
) -> None:
    other_name = f"roles_{os.getpid()}_other"
    postgres_server.drop_database(other_name)
    other = Database(postgres_server.create_database(other_name))
    try:
        migrate.upgrade(other, role_prefix="other_")
        demo.seed(other)  # the same login names, other logins
        add_email(other, "Orders", subject="Other site's")
        # alice of the first site reaches the other database, and reads nothing there
        u = make_url(other.url)
        with psycopg.connect(
            f"host={u.host} port={u.port} dbname={u.database} user={site.prefix}alice "
            f"password={PASSWORD}",
            autocommit=True,
        ) as conn:
            assert "permission denied" in refused(conn, "SELECT subject FROM emails")
            assert "permission denied" in refused(conn, "SELECT title FROM campaigns")
        wrong = SiteAccess(
            make_url(other.url)
            .set(username=None, password=None)
            .update_query_dict({"role_prefix": site.prefix})
            .render_as_string()
        )
        with pytest.raises(AuthenticationError):
            who_signs_in(wrong, "alice", PASSWORD)
        # the prefix is set once
        with pytest.raises(migrate.SchemaError, match="set once"):
            migrate.upgrade(other, role_prefix="third_")
    finally:
        other.dispose()
        postgres_server.drop_database(other_name)


def test_a_schema_behind_is_said_at_sign_in_and_nobody_works(site: SecuredSite) -> None:
    with site.owner.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    with pytest.raises(SiteUnavailable, match="behind this program") as info:
        who_signs_in(site.access(), "alice", PASSWORD)
    assert "db upgrade" in str(info.value)


def test_a_schema_newer_than_the_program_is_said_at_sign_in(site: SecuredSite) -> None:
    with site.owner.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0042'"))
    with pytest.raises(SiteUnavailable, match="0042, newer than this program knows"):
        who_signs_in(site.access(), "alice", PASSWORD)


def test_a_disabled_persons_open_connection_reads_nothing_more(site: SecuredSite) -> None:
    add_email(site.owner, "Orders")
    with psycopg.connect(site.dsn("alice"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM emails").fetchone() == (1,)
        with site.owner.session() as s:
            s.execute(update(User).where(User.login == "alice").values(active=False))
        assert conn.execute("SELECT count(*) FROM emails").fetchone() == (0,)
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(site.dsn("alice")).close()


def test_the_channel_service_has_a_login_of_its_own(site: SecuredSite) -> None:
    role = security.create_service_login(site.owner, "serve", "service-password")
    assert role == f"{site.prefix}serve"
    add_email(site.owner, "Complaints")
    with psycopg.connect(site.dsn("serve", "service-password"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM emails").fetchone() == (1,)
        assert conn.execute("UPDATE emails SET queued_at = now()").rowcount == 1
        assert "permission denied" in refused(conn, "UPDATE campaigns SET title = 'x'")
        verifier = conn.pgconn.encrypt_password(b"x-password", b"anyone", b"scram-sha-256")
        assert "administrator" in refused(  # (no user of its own: ec_me() is NULL)
            conn, "SELECT ec_set_password(%s, %s)", user_id(site.owner, "admin"), verifier.decode()
        )
    psycopg.connect(site.dsn("admin")).close()  # the administrator's password unchanged
    with pytest.raises(security.SecurityError, match="user's login name"):
        security.create_service_login(site.owner, "alice", "service-password")


def test_an_owner_who_may_not_create_roles_is_told_what_to_do(
    postgres_server: PostgresServer,
) -> None:
    name = f"roles_{os.getpid()}_nocreaterole"
    with psycopg.connect(postgres_server._admin_dsn(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS " + name)
        conn.execute("DROP ROLE IF EXISTS plain_owner")
        conn.execute("CREATE ROLE plain_owner LOGIN PASSWORD 'owner-password'")
        conn.execute(f"CREATE DATABASE {name} OWNER plain_owner")
    u = make_url(postgres_server.url_for(name)).set(
        username="plain_owner", password="owner-password"
    )
    db = Database(u.render_as_string(hide_password=False))
    try:
        with pytest.raises(migrate.SchemaError, match="CREATEROLE"):
            migrate.upgrade(db)
    finally:
        db.dispose()
        postgres_server.drop_database(name)


def test_an_agent_moves_an_email_to_another_teams_campaign_and_puts_back_one_no_longer_theirs(
    site: SecuredSite,
) -> None:
    moved = add_email(site.owner, "Orders", subject="For the escalations team")
    kept = add_email(site.owner, "Orders", subject="Held when the team changed")
    alice = signed_in(site, "alice")
    try:
        work = WorkService(alice.db, alice.actor)
        assert work.take_next() == moved
        work.move(moved, campaign_id(site.owner, "Complaints"))
        assert work.take_next() == kept
        with site.owner.engine.begin() as conn:  # alice leaves Front Line while holding it
            conn.execute(
                text("DELETE FROM team_members WHERE user_id = :u"), {"u": alice.actor.user_id}
            )
        work.put_back(kept)
    finally:
        site.access().release(alice)
    with site.owner.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.id, e.status, c.title, (SELECT count(*) FROM history h "
                "WHERE h.email_id = e.id AND h.action IN ('moved', 'put back')) "
                "FROM emails e JOIN campaigns c ON c.id = e.campaign_id ORDER BY e.id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (moved, "queued", "Complaints", 1),
        (kept, "queued", "Orders", 1),
    ]


def test_the_channel_service_retrieves_and_sends_on_its_own_login(  # type: ignore[no-untyped-def]
    site: SecuredSite, mail_server, mailbox, isolated_home
) -> None:
    from app.services.secrets import choose_plain_file_fallback
    from tests.integration.test_retrieval import make_channel, raw_message

    real = make_channel(site.owner, mail_server, mailbox, choose_plain_file_fallback(), name="Real")
    with site.owner.engine.begin() as conn:  # replies go out through it
        conn.execute(text("UPDATE campaigns SET channel_id = :c"), {"c": real})
        conn.execute(text("UPDATE organisation SET default_channel_id = :c"), {"c": real})
    security.create_service_login(site.owner, "serve", "service-password")
    service = make_url(site.owner.url).set(
        username=f"{site.prefix}serve", password="service-password"
    )
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "EMAIL_CAMPAIGNS_HOME": str(isolated_home),
        "PYTHONPATH": os.getcwd(),
    }
    cli = [sys.executable, "-m", "app", "--database", service.render_as_string(hide_password=False)]
    mail_server.deliver(mailbox.address, raw_message(1, subject="Retrieved by serve"))
    sync = subprocess.run(
        [*cli, "channel", "sync", "Real"], env=env, capture_output=True, text=True, timeout=120
    )
    assert sync.returncode == 0, sync.stderr
    alice = signed_in(site, "alice")
    try:
        work = WorkService(alice.db, alice.actor)
        opened = work.take_and_open()
        assert opened is not None and opened.detail.subject == "Retrieved by serve"
        template = opened.templates[0] if opened.templates else None
        text_ = ReplyText(
            to=mailbox.address,
            subject="Re: Retrieved by serve",
            body="Answered",
            template_id=template.template_id if template else None,
        )
        work.send(opened.email_id, text_)
    finally:
        site.access().release(alice)
    drain = subprocess.run(
        [*cli, "outbox", "drain"], env=env, capture_output=True, text=True, timeout=120
    )
    assert drain.returncode == 0, drain.stderr
    assert "sent 1" in drain.stdout.lower() or "1 sent" in drain.stdout.lower(), (
        drain.stdout,
        drain.stderr,
    )
    with site.owner.engine.connect() as conn:
        assert conn.execute(text("SELECT state FROM replies")).scalars().all() == ["sent"]


def test_the_definer_functions_fix_their_search_path_and_are_not_public(site: SecuredSite) -> None:
    with site.owner.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT proname, prosecdef, proconfig, "
                "has_function_privilege('public', p.oid, 'EXECUTE') "
                "FROM pg_proc p WHERE proname LIKE 'ec\\_%' ORDER BY proname"
            )
        ).all()
    assert len(rows) >= 10
    for name, definer, config, public in rows:
        assert definer, name
        assert config and any(c.startswith("search_path=") for c in config), name
        assert not public, name
