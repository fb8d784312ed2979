"""Roles enforced by PostgreSQL: each person signs in with a login of their own, and grants
plus row-level security let that login do what the product gives their role, nothing more.

What ``apply`` sets up (as the schema's owner, at ``db upgrade``; idempotent, again when
``SECURITY_VERSION`` changes or a migration ran):

- Four group roles per site: ``<prefix>email_campaigns_agent``, ``…_supervisor`` (a member
  of the agents' group), ``…_administrator`` (a member of the supervisors') and
  ``…_service`` (the channel service, ``serve``). A person's login is their app login name
  after the site's prefix (``db upgrade --role-prefix P``, set once, empty by default), a
  member of the one group of their role, and marked with the site in its comment: only
  logins so marked are ever changed or dropped.
- ``SECURITY DEFINER`` functions (owned by the owner, ``search_path`` set, not executable by
  ``PUBLIC``): ``ec_me()`` (the signed-in user's id: the active user whose login is
  ``session_user``), ``ec_my_campaigns()`` (their teams' campaigns), the trigger that keeps
  each user's login in step with their row (created, renamed, re-roled, disabled, dropped;
  only by an administrator or the owner, checked with ``session_user``) and
  ``ec_set_password(user, verifier)`` (an administrator for anyone, a person for
  themselves). Passwords arrive as SCRAM verifiers computed by the client
  (``scram_verifier``): they never travel or get logged in plain text.
- Grants, and row-level security forced on the tables of work (so the owner's own
  statements go through policies too): an agent reads the configuration and colleagues'
  names (never a password hash), and reads and changes only the emails of their teams'
  campaigns and those held by them, with their replies, drafts and history; supervisors and
  administrators everything the product lets them do; the channel service retrieves, sends
  and returns abandoned emails.

SQLite has none of this: it is one person's file, with the app's own sign-in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from app.db.engine import Database

SECURITY_VERSION = 4
GROUP_KINDS = ("agent", "supervisor", "administrator", "service")
MAX_ROLE_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
MAX_PREFIX_LENGTH = 24
PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# Names PostgreSQL keeps for itself (CREATE ROLE refuses them, or they mean something else).
RESERVED_ROLES = frozenset(
    {"public", "none", "current_user", "session_user", "current_role", "system_user"}
)
MARK = "Email Campaigns login of the site with role prefix '{prefix}'"
SERVICE_MARK = "Email Campaigns channel service login of the site with role prefix '{prefix}'"

# The tables of the configuration: every person reads them; who writes which.
READ_BY_ALL = (
    "organisation",
    "campaign_groups",
    "campaigns",
    "teams",
    "team_members",
    "campaign_teams",
    "templates",
    "campaign_templates",
    "channels",
    "filters",
    "config_changes",
    "alembic_version",
    "ec_site",
)
WRITTEN_BY = {
    "supervisor": (
        "campaign_groups",
        "campaigns",
        "campaign_teams",
        "templates",
        "campaign_templates",
    ),
    "administrator": ("organisation", "teams", "team_members", "channels", "filters"),
}
# What anyone may read of users: never the password hash.
USER_COLUMNS = (
    "id",
    "login",
    "display_name",
    "email",
    "role",
    "active",
    "is_demo",
    "last_seen_at",
)
# Row-level security, forced: these hold the work (and who does it).
SECURED = ("emails", "replies", "history", "attachments", "email_uids", "users")


def migrated_by_alembic(
    _object: object, name: str | None, type_: str, _reflected: bool, _compare_to: object
) -> bool:
    """Alembic's ``include_object``: the roles' own table is this module's, not the
    migrations' (autogenerate and schema comparisons leave it alone)."""
    return not (type_ == "table" and name == "ec_site")


class SecurityError(Exception):
    """Roles could not be set up as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Report:
    prefix: str
    applied: bool  # False: already current
    logins_created: tuple[str, ...] = ()  # (with no password yet)
    refused: tuple[str, ...] = ()  # users whose login name is taken by a role not ours


def group_role(prefix: str, kind: str) -> str:
    return f"{prefix}email_campaigns_{kind}"


def login_role(prefix: str, login: str) -> str:
    return f"{prefix}{login}"


def check_prefix(prefix: str) -> str:
    if prefix and (len(prefix) > MAX_PREFIX_LENGTH or not PREFIX_PATTERN.fullmatch(prefix)):
        raise SecurityError(
            f"The role prefix '{prefix}' is not usable: at most {MAX_PREFIX_LENGTH} "
            "characters, lower-case letters, digits and '_', starting with a letter "
            "(e.g. 'acme_')."
        )
    return prefix


def login_problem(prefix: str, login: str) -> str | None:
    """Why ``login`` cannot be a PostgreSQL login on this site (None: it can). Roles the
    cluster already has are checked by the database itself (``ec_users_changed``)."""
    role = login_role(prefix, login)
    size = len(role.encode("utf-8"))
    if size > MAX_ROLE_BYTES:
        return (
            f"is too long for a PostgreSQL login: with the site's role prefix it takes "
            f"{size} bytes, at most {MAX_ROLE_BYTES} fit."
        )
    if role.lower().startswith("pg_"):
        return "must not begin with 'pg_' (PostgreSQL keeps such names for itself)."
    if role.lower() in RESERVED_ROLES:
        return f"'{login}' is a name PostgreSQL keeps for itself; choose another."
    if any(role == group_role(prefix, kind) for kind in GROUP_KINDS):
        return f"'{login}' is the name of one of the application's own roles; choose another."
    if "\x00" in login:
        return "must not contain a NUL character."
    return None


def scram_verifier(connection: Connection, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` for ``role``, computed here (libpq's
    PQencryptPasswordConn): what the server stores, never the password itself."""
    raw = connection.connection.driver_connection
    verifier = raw.pgconn.encrypt_password(  # type: ignore[union-attr]
        password.encode("utf-8"), role.encode("utf-8"), b"scram-sha-256"
    )
    return bytes(verifier).decode("ascii")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def current(connection: Connection) -> tuple[str, int] | None:
    """The site's role prefix and security version (None: roles never set up)."""
    if connection.execute(text("SELECT to_regclass('ec_site')")).scalar() is None:
        return None
    row = connection.execute(text("SELECT role_prefix, security_version FROM ec_site")).first()
    return (str(row[0]), int(row[1])) if row is not None else None


def is_owner(connection: Connection) -> bool:
    """Whether this login may change the schema (owns it, or is a superuser)."""
    row = connection.execute(
        text(
            "SELECT rolsuper OR pg_has_role(current_user, n.nspowner, 'USAGE') "
            "FROM pg_roles, pg_namespace n "
            "WHERE rolname = current_user AND n.nspname = current_schema()"
        )
    ).first()
    return bool(row and row[0])


def needs_apply(connection: Connection) -> bool:
    found = current(connection)
    return found is None or found[1] != SECURITY_VERSION


def apply(db: Database, prefix: str | None = None) -> Report:
    """Set up (or bring up to date) the roles, functions, grants and policies of this
    site, as its owner; ``prefix``: the role prefix, only where none was set before (None:
    keep the site's, or none)."""
    if db.is_sqlite:
        raise SecurityError("Roles are PostgreSQL's: a SQLite database has one user.")
    with db.engine.begin() as conn:
        # one upgrade of the roles at a time (two `db upgrade`s at once)
        conn.execute(text("SELECT pg_advisory_xact_lock(7306202612)"))
        found = current(conn)
        if found is not None:
            if prefix is not None and prefix != found[0]:
                raise SecurityError(
                    f"The site's role prefix is '{found[0]}': it is set once and cannot be "
                    f"changed to '{prefix}' (its logins carry it). Nothing was changed."
                )
            prefix = found[0]
            if found[1] == SECURITY_VERSION and not _missing_policies(conn):
                return Report(prefix, applied=False)
        prefix = check_prefix(prefix or "")
        _check_can_create_roles(conn)
        schema = str(conn.execute(text("SELECT current_schema()")).scalar())
        owner = str(conn.execute(text("SELECT current_user")).scalar())
        _site_table(conn, prefix)
        _groups(conn, prefix)
        _functions(conn, prefix, schema, owner)
        _grants(conn, prefix, schema)
        _policies(conn, prefix, owner)
        created, refused = _logins_for_users(conn)
        conn.execute(
            text("UPDATE ec_site SET security_version = :v, role_prefix = :p"),
            {"v": SECURITY_VERSION, "p": prefix},
        )
    return Report(prefix, True, created, refused)


def _missing_policies(conn: Connection) -> bool:
    """A table of work without row-level security (made again by a migration)."""
    forced = conn.execute(
        text(
            "SELECT count(*) FROM pg_class WHERE relname = ANY(:names) "
            "AND relnamespace = current_schema()::regnamespace "
            "AND relrowsecurity AND relforcerowsecurity"
        ),
        {"names": list(SECURED)},
    ).scalar()
    return forced != len(SECURED)


def _check_can_create_roles(conn: Connection) -> None:
    row = conn.execute(
        text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).one()
    if not (row[0] or row[1]):
        user = conn.execute(text("SELECT current_user")).scalar()
        raise SecurityError(
            f"The database login '{user}' may not create roles: each person signs in with a "
            "PostgreSQL login of their own, which the site's owner makes. Give the owner "
            f"CREATEROLE (as a superuser: ALTER ROLE {_ident(str(user))} CREATEROLE) and "
            "run db upgrade again. Nothing was changed."
        )


def _site_table(conn: Connection, prefix: str) -> None:
    conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS ec_site ("
            " id integer PRIMARY KEY CHECK (id = 1),"
            " role_prefix text NOT NULL,"
            " security_version integer NOT NULL)"
        )
    )
    conn.execute(
        text(
            "INSERT INTO ec_site (id, role_prefix, security_version) VALUES (1, :p, 0) "
            "ON CONFLICT (id) DO NOTHING"
        ),
        {"p": prefix},
    )


def _groups(conn: Connection, prefix: str) -> None:
    for kind in GROUP_KINDS:
        name = group_role(prefix, kind)
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name})
        if exists.first() is None:
            conn.execute(text(f"CREATE ROLE {_ident(name)} NOLOGIN"))
        conn.execute(
            text(
                f"COMMENT ON ROLE {_ident(name)} IS "
                f"{_literal(f'Email Campaigns group role ({kind}) of the site with role prefix {prefix!r}')}"
            )
        )
    # supervisors may do what agents do, administrators what supervisors do
    g = {kind: _ident(group_role(prefix, kind)) for kind in GROUP_KINDS}
    conn.execute(text(f"GRANT {g['agent']} TO {g['supervisor']}"))
    conn.execute(text(f"GRANT {g['supervisor']} TO {g['administrator']}"))


def _functions(conn: Connection, prefix: str, schema: str, owner: str) -> None:
    p = _literal(prefix)
    n = len(prefix)
    path = f"SET search_path = {_ident(schema)}, pg_temp"
    mark = _literal(MARK.format(prefix=prefix))
    service_mark = _literal(SERVICE_MARK.format(prefix=prefix))
    groups = {kind: _literal(group_role(prefix, kind)) for kind in GROUP_KINDS}
    statements = [
        # the signed-in person: the active user whose login is the session's
        f"""
        CREATE OR REPLACE FUNCTION ec_me() RETURNS integer
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
          SELECT id FROM users
          WHERE left(session_user, {n}) = {p} AND login = substr(session_user, {n + 1})
            AND active
        $$""",
        f"""
        CREATE OR REPLACE FUNCTION ec_my_campaigns() RETURNS integer[]
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
          SELECT coalesce(array_agg(DISTINCT ct.campaign_id), '{{}}')
          FROM campaign_teams ct JOIN team_members tm ON tm.team_id = ct.team_id
          WHERE tm.user_id = ec_me()
        $$""",
        # who may manage logins: an active administrator, the owner, a superuser
        f"""
        CREATE OR REPLACE FUNCTION ec_may_manage_logins() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
          SELECT EXISTS (SELECT 1 FROM users WHERE id = ec_me() AND role = 'administrator')
              OR pg_has_role(session_user, {_literal(owner)}, 'MEMBER')
              OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper)
        $$""",
        # a role is the app's only when marked so (its comment): never touch another
        f"""
        CREATE OR REPLACE FUNCTION ec_role_mark(p_role text) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
          SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = p_role
        $$""",
        # make the login of a user what the row says (create, rename, re-role, disable)
        f"""
        CREATE OR REPLACE FUNCTION ec_sync_login(p_old text, p_login text, p_role text,
                                                 p_active boolean) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
          v_role text := {p} || p_login;
          v_old text := {p} || p_old;
          v_group text;
          v_kind text;
          v_clash text;
        BEGIN
          IF ec_may_manage_logins() IS NOT TRUE THEN
            RAISE EXCEPTION 'only an administrator may change logins'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          v_group := CASE p_role WHEN 'agent' THEN {groups["agent"]}
                                 WHEN 'supervisor' THEN {groups["supervisor"]}
                                 WHEN 'administrator' THEN {groups["administrator"]} END;
          IF v_group IS NULL THEN
            RAISE EXCEPTION 'unknown role %', p_role USING ERRCODE = 'invalid_parameter_value';
          END IF;
          IF octet_length(v_role) > {MAX_ROLE_BYTES} OR lower(v_role) LIKE 'pg\\_%'
             OR lower(v_role) IN ({", ".join(_literal(r) for r in sorted(RESERVED_ROLES))})
             OR v_role IN ({", ".join(groups.values())}) THEN
            RAISE EXCEPTION 'the login name % cannot be a PostgreSQL login', p_login
              USING ERRCODE = 'invalid_name';
          END IF;
          IF p_old IS NOT NULL AND p_old <> p_login
             AND ec_role_mark(v_old) IS NOT DISTINCT FROM {mark} THEN
            IF ec_role_mark(v_role) IS NOT NULL THEN
              RAISE EXCEPTION 'the login name % is taken by another PostgreSQL role', p_login
                USING ERRCODE = 'duplicate_object';
            END IF;
            EXECUTE format('ALTER ROLE %I RENAME TO %I', v_old, v_role);
          END IF;
          SELECT rolname INTO v_clash FROM pg_roles
           WHERE lower(rolname) = lower(v_role) AND rolname <> v_role LIMIT 1;
          IF v_clash IS NOT NULL THEN
            RAISE EXCEPTION 'the login name % differs only in letter case from the PostgreSQL role %',
              p_login, v_clash USING ERRCODE = 'duplicate_object';
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            EXECUTE format('COMMENT ON ROLE %I IS %L', v_role, {mark});
          ELSIF ec_role_mark(v_role) IS DISTINCT FROM {mark} THEN
            RAISE EXCEPTION 'the login name % is taken by a PostgreSQL role this site did not create',
              p_login USING ERRCODE = 'duplicate_object';
          END IF;
          FOREACH v_kind IN ARRAY ARRAY[{groups["agent"]}, {groups["supervisor"]},
                                        {groups["administrator"]}] LOOP
            IF v_kind <> v_group AND EXISTS (
                 SELECT 1 FROM pg_auth_members m
                 JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
                 WHERE r.rolname = v_role AND g.rolname = v_kind) THEN
              EXECUTE format('REVOKE %I FROM %I', v_kind, v_role);
            END IF;
          END LOOP;
          EXECUTE format('GRANT %I TO %I', v_group, v_role);
          IF p_active THEN
            EXECUTE format('ALTER ROLE %I LOGIN', v_role);
          ELSE
            EXECUTE format('ALTER ROLE %I NOLOGIN', v_role);
          END IF;
        END
        $$""",
        f"""
        CREATE OR REPLACE FUNCTION ec_drop_login(p_login text) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
          v_role text := {p} || p_login;
        BEGIN
          IF ec_may_manage_logins() IS NOT TRUE THEN
            RAISE EXCEPTION 'only an administrator may drop logins'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          IF ec_role_mark(v_role) IS NOT DISTINCT FROM {mark} THEN
            EXECUTE format('DROP ROLE %I', v_role);
          END IF;
        END
        $$""",
        # the trigger keeping each user's login in step with their row
        f"""
        CREATE OR REPLACE FUNCTION ec_users_changed() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            PERFORM ec_drop_login(OLD.login);
            RETURN OLD;
          ELSIF TG_OP = 'INSERT' THEN
            PERFORM ec_sync_login(NULL, NEW.login, NEW.role, NEW.active);
          ELSIF (OLD.login, OLD.role, OLD.active) IS DISTINCT FROM
                (NEW.login, NEW.role, NEW.active) THEN
            PERFORM ec_sync_login(OLD.login, NEW.login, NEW.role, NEW.active);
          END IF;
          RETURN NEW;
        END
        $$""",
        "DROP TRIGGER IF EXISTS ec_users_logins ON users",
        """
        CREATE TRIGGER ec_users_logins AFTER INSERT OR DELETE OR UPDATE OF login, role, active
        ON users FOR EACH ROW EXECUTE FUNCTION ec_users_changed()""",
        # who may act on emails held by others: supervisors and administrators (active),
        # the channel service, the owner
        f"""
        CREATE OR REPLACE FUNCTION ec_is_staff() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
          SELECT EXISTS (SELECT 1 FROM users WHERE id = ec_me()
                         AND role IN ('supervisor', 'administrator'))
              OR pg_has_role(session_user, {groups["service"]}, 'MEMBER')
              OR pg_has_role(session_user, {_literal(owner)}, 'MEMBER')
              OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper)
        $$""",
        # an email back to a queue (its own, or p_campaign's) if p_agent still holds it in
        # one of p_statuses: the email leaves its holder, whose policies could no longer see
        # the row as it becomes (another team's campaign, nobody's), so it is done here,
        # for the holder themselves or staff
        f"""
        CREATE OR REPLACE FUNCTION ec_requeue(p_email integer, p_agent integer,
                                              p_statuses text[], p_campaign integer)
        RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
          v_count integer;
        BEGIN
          IF (p_agent IS NOT DISTINCT FROM ec_me() AND p_agent IS NOT NULL) IS NOT TRUE
             AND ec_is_staff() IS NOT TRUE THEN
            RAISE EXCEPTION 'only its holder or a supervisor may put an email back'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          UPDATE emails SET status = 'queued', agent_id = NULL, taken_at = NULL,
                            campaign_id = coalesce(p_campaign, campaign_id)
           WHERE id = p_email AND agent_id IS NOT DISTINCT FROM p_agent
             AND status = ANY (p_statuses);
          GET DIAGNOSTICS v_count = ROW_COUNT;
          RETURN v_count;
        END
        $$""",
        # a password, as the SCRAM verifier the client computed
        f"""
        CREATE OR REPLACE FUNCTION ec_set_password(p_user integer, p_verifier text)
        RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
          v_login text;
          v_role text;
        BEGIN
          -- (IS NOT TRUE: a NULL, e.g. no user for this login, refuses too)
          IF (ec_may_manage_logins() OR ec_me() = p_user) IS NOT TRUE THEN
            RAISE EXCEPTION 'only an administrator may set another person''s password'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          IF p_verifier !~ '^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
            RAISE EXCEPTION 'a password is set as a SCRAM-SHA-256 verifier only'
              USING ERRCODE = 'invalid_password';
          END IF;
          SELECT login INTO v_login FROM users WHERE id = p_user;
          IF v_login IS NULL THEN
            RAISE EXCEPTION 'no user %', p_user USING ERRCODE = 'no_data_found';
          END IF;
          v_role := {p} || v_login;
          IF ec_role_mark(v_role) IS DISTINCT FROM {mark} THEN
            RAISE EXCEPTION 'the user % has no login of this site', v_login
              USING ERRCODE = 'undefined_object';
          END IF;
          EXECUTE format('ALTER ROLE %I PASSWORD %L', v_role, p_verifier);
          UPDATE users SET is_demo = false WHERE id = p_user AND is_demo;
        END
        $$""",
        # the channel service's own login (the owner makes it: db service-login)
        f"""
        CREATE OR REPLACE FUNCTION ec_service_login(p_name text, p_verifier text)
        RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
          v_role text := {p} || p_name;
        BEGIN
          IF (pg_has_role(session_user, {_literal(owner)}, 'MEMBER')
              OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper))
             IS NOT TRUE THEN
            RAISE EXCEPTION 'only the site''s owner makes the channel service''s login'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          IF EXISTS (SELECT 1 FROM users WHERE lower(login) = lower(p_name)) THEN
            RAISE EXCEPTION 'the name % is a user''s login name', p_name
              USING ERRCODE = 'duplicate_object';
          END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', v_role);
            EXECUTE format('COMMENT ON ROLE %I IS %L', v_role, {service_mark});
          ELSIF ec_role_mark(v_role) IS DISTINCT FROM {service_mark} THEN
            RAISE EXCEPTION 'the name % is taken by another PostgreSQL role', v_role
              USING ERRCODE = 'duplicate_object';
          END IF;
          EXECUTE format('GRANT %I TO %I', {groups["service"]}, v_role);
          EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', v_role, p_verifier);
        END
        $$""",
    ]
    for statement in statements:
        conn.execute(text(statement))
    everyone = ", ".join(_ident(group_role(prefix, k)) for k in GROUP_KINDS)
    functions = (
        "ec_me()",
        "ec_my_campaigns()",
        "ec_may_manage_logins()",
        "ec_role_mark(text)",
        "ec_sync_login(text, text, text, boolean)",
        "ec_drop_login(text)",
        "ec_users_changed()",
        "ec_set_password(integer, text)",
        "ec_service_login(text, text)",
        "ec_is_staff()",
        "ec_requeue(integer, integer, text[], integer)",
    )
    for signature in functions:
        conn.execute(text(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC"))
    # the policies call these as the person working; the login functions check the caller
    for signature in (
        "ec_me()",
        "ec_my_campaigns()",
        "ec_set_password(integer, text)",
        "ec_requeue(integer, integer, text[], integer)",
    ):
        conn.execute(text(f"GRANT EXECUTE ON FUNCTION {signature} TO {everyone}"))
    admins = _ident(group_role(prefix, "administrator"))
    for signature in functions[2:7]:  # run by the trigger, when an administrator changes users
        conn.execute(text(f"GRANT EXECUTE ON FUNCTION {signature} TO {admins}"))


def _grants(conn: Connection, prefix: str, schema: str) -> None:
    g = {kind: _ident(group_role(prefix, kind)) for kind in GROUP_KINDS}
    everyone = ", ".join(g.values())
    statements = [
        f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {everyone}",
        f"GRANT SELECT ON {', '.join(READ_BY_ALL)} TO {everyone}",
        f"GRANT SELECT ({', '.join(USER_COLUMNS)}) ON users TO {everyone}",
        f"GRANT UPDATE (last_seen_at) ON users TO {g['agent']}",
        # work: rows are limited by the policies below
        f"GRANT SELECT, UPDATE ON emails TO {g['agent']}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON replies TO {g['agent']}",
        f"GRANT SELECT, INSERT ON history TO {g['agent']}",
        f"GRANT SELECT ON attachments TO {g['agent']}",
        f"GRANT SELECT ON email_uids TO {g['supervisor']}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_ident(schema)} TO {everyone}",
        # administrators manage users (their logins follow by the trigger)
        f"GRANT INSERT, UPDATE, DELETE ON users TO {g['administrator']}",
        # the channel service: retrieval, sending, returning abandoned emails, its leases
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON emails, email_uids, attachments, replies, "
        f"history, leases TO {g['service']}",
    ]
    for kind, tables in WRITTEN_BY.items():
        statements.append(f"GRANT INSERT, UPDATE, DELETE ON {', '.join(tables)} TO {g[kind]}")
    for statement in statements:
        conn.execute(text(statement))


def _policy(
    conn: Connection, table: str, name: str, command: str, to: str, using: str, check: str | None
) -> None:
    conn.execute(text(f"DROP POLICY IF EXISTS {name} ON {table}"))
    clause = f" WITH CHECK ({check})" if check is not None else ""
    using_clause = f" USING ({using})" if command != "INSERT" else ""
    conn.execute(
        text(f"CREATE POLICY {name} ON {table} FOR {command} TO {to}{using_clause}{clause}")
    )


def _policies(conn: Connection, prefix: str, owner: str) -> None:
    g = {kind: _ident(group_role(prefix, kind)) for kind in GROUP_KINDS}
    signed_in = "(SELECT ec_me()) IS NOT NULL"
    mine = (
        "campaign_id = ANY ((SELECT ec_my_campaigns())::integer[]) OR agent_id = (SELECT ec_me())"
    )
    of_mine = "EXISTS (SELECT 1 FROM emails e WHERE e.id = {table}.email_id)"
    for table in SECURED:
        conn.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
        conn.execute(text(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
        _policy(conn, table, "ec_owner", "ALL", _ident(owner), "true", "true")
        _policy(conn, table, "ec_service", "ALL", g["service"], "true", "true")
        if table != "users":
            # supervisors and administrators: every email (while their account is active)
            _policy(conn, table, "ec_staff", "ALL", g["supervisor"], signed_in, signed_in)
    # an agent: the emails of their teams' campaigns, and those they hold
    _policy(conn, "emails", "ec_agent_read", "SELECT", g["agent"], mine, None)
    # (a Move sends one to a campaign not theirs: what it becomes is the services' rule)
    _policy(conn, "emails", "ec_agent_work", "UPDATE", g["agent"], mine, signed_in)
    # an agent's History entries are their own, written also as an email leaves them (and
    # read back as written): they see those, and the History of the emails they see
    own = "user_id = (SELECT ec_me())"
    _policy(conn, "history", "ec_agent_insert", "INSERT", g["agent"], "", own)
    history = f"{of_mine.format(table='history')} OR {own}"
    _policy(conn, "history", "ec_agent_select", "SELECT", g["agent"], history, None)
    for table, commands in (
        ("replies", ("SELECT", "INSERT", "UPDATE", "DELETE")),
        ("attachments", ("SELECT",)),
    ):
        rule = of_mine.format(table=table)
        for command in commands:
            check = rule if command in ("INSERT", "UPDATE") else None
            _policy(conn, table, f"ec_agent_{command.lower()}", command, g["agent"], rule, check)
    # users: every colleague's name; a person writes only their own sign of life
    _policy(conn, "users", "ec_everyone_read", "SELECT", g["agent"], "true", None)
    _policy(
        conn,
        "users",
        "ec_self_heartbeat",
        "UPDATE",
        g["agent"],
        "id = (SELECT ec_me())",
        "id = (SELECT ec_me())",
    )
    _policy(conn, "users", "ec_admin", "ALL", g["administrator"], signed_in, signed_in)


def _logins_for_users(conn: Connection) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every user without a login gets one, with no password (an upgraded site: each
    person's password is set again, ``user set-password``); returns the logins created and
    the users refused one (their login name taken by a role not this site's, or unfit)."""
    rows = conn.execute(text("SELECT login, role, active FROM users ORDER BY id")).all()
    prefix = str(conn.execute(text("SELECT role_prefix FROM ec_site")).scalar())
    created: list[str] = []
    refused: list[str] = []
    for login, role, active in rows:
        problem = login_problem(prefix, login)
        if problem is not None:
            refused.append(f"{login}: {problem}")
            continue
        existed = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login_role(prefix, login)}
        ).first()
        savepoint = conn.begin_nested()
        try:
            conn.execute(
                text("SELECT ec_sync_login(NULL, :l, :r, :a)"),
                {"l": login, "r": str(role), "a": bool(active)},
            )
        except DBAPIError as exc:
            savepoint.rollback()
            refused.append(f"{login}: {str(exc.orig).splitlines()[0]}")
            continue
        savepoint.commit()
        if existed is None:
            created.append(login)
    return tuple(created), tuple(refused)


def describe(db: Database) -> str:
    """What ``db upgrade`` says of the roles: the prefix, the groups, the users without a
    login of this site, and how the channel service gets its own."""
    with db.engine.connect() as conn:
        found = current(conn)
        if found is None:
            return "Roles: not set up."
        prefix = found[0]
        mark = MARK.format(prefix=prefix)
        missing = [
            str(login)
            for (login,) in conn.execute(
                text(
                    "SELECT login FROM users u WHERE ec_role_mark(:p || u.login) "
                    "IS DISTINCT FROM :m ORDER BY login"
                ),
                {"p": prefix, "m": mark},
            )
        ]
        services = [
            str(name)
            for (name,) in conn.execute(
                text(
                    "SELECT rolname FROM pg_roles "
                    "WHERE shobj_description(oid, 'pg_authid') = :m ORDER BY rolname"
                ),
                {"m": SERVICE_MARK.format(prefix=prefix)},
            )
        ]
    lines = [
        f"Roles: each person signs in with their own PostgreSQL login, '{prefix}' + their "
        f"login name (role prefix '{prefix}'; group roles {group_role(prefix, 'agent')}, "
        f"…_supervisor, …_administrator, …_service).",
        "Set a person's password with: email-campaigns --database URL user set-password LOGIN",
    ]
    if missing:
        lines.append(
            "Users without a login of this site (their login name is taken by another "
            "PostgreSQL role, or does not fit): " + ", ".join(missing)
        )
    if services:
        lines.append("The channel service's logins: " + ", ".join(services))
    else:
        lines.append(
            "The channel service (serve) needs a login of its own: "
            "email-campaigns --database URL db service-login NAME"
        )
    return "\n".join(lines)


def create_service_login(db: Database, name: str, password: str) -> str:
    """The channel service's own login (made by the owner), its password as a SCRAM
    verifier; returns the role's name."""
    with db.engine.begin() as conn:
        found = current(conn)
        if found is None:
            raise SecurityError("Roles are not set up: run db upgrade first.")
        role = login_role(found[0], name)
        problem = login_problem(found[0], name)
        if problem is not None:
            raise SecurityError(f"The service login {problem}")
        verifier = scram_verifier(conn, role, password)
        try:
            conn.execute(text("SELECT ec_service_login(:n, :v)"), {"n": name, "v": verifier})
        except DBAPIError as exc:
            raise SecurityError(str(exc.orig).splitlines()[0]) from exc
    return role


def site_prefix(connection: Connection) -> str:
    found = current(connection)
    if found is None:
        raise SecurityError(
            "The site's roles are not set up: its owner runs email-campaigns --database URL "
            "db upgrade."
        )
    return found[0]


def set_password(connection: Connection, user_id: int, login: str, password: str) -> None:
    """Set the user's PostgreSQL password (``ec_set_password`` checks who asks): only its
    SCRAM verifier, computed here, goes to the server."""
    role = login_role(site_prefix(connection), login)
    verifier = scram_verifier(connection, role, password)
    connection.execute(text("SELECT ec_set_password(:u, :v)"), {"u": user_id, "v": verifier})
