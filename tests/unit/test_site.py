"""Opening the site (app.services.site): what the GUI starts on, without the GUI."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import paths
from app.db.engine import Database
from app.db.models import CampaignGroup, User
from app.services import auth
from app.services.errors import DatabaseUnavailable
from app.services.site import SiteUnavailable, open_site


def counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        users = s.scalar(select(func.count()).select_from(User)) or 0
        groups = s.scalar(select(func.count()).select_from(CampaignGroup)) or 0
        return users, groups


def test_the_users_own_database_is_created_with_the_demo() -> None:
    site = open_site(None)
    try:
        assert site.database is not None and not site.shared
        assert site.database.sqlite_path == paths.default_database_path()
        assert site.sign_in("admin", "demo-password").actor.login == "admin"
        assert auth.sign_in(site.database, "admin", "demo-password").login == "admin"
    finally:
        site.close()


@pytest.mark.sqlite_only  # (a shared site is read by no one before sign-in: test_roles)
def test_an_empty_database_file_given_is_refused_and_left_empty(db: Database) -> None:
    with pytest.raises(SiteUnavailable) as info:
        open_site(db.url)
    assert "no users yet" in str(info.value) and "user create LOGIN" in str(info.value)
    assert counts(db) == (0, 0)


def test_an_unreachable_shared_site_is_said_in_words_at_sign_in() -> None:
    site = open_site("postgresql+psycopg://nobody@127.0.0.1:1/nothing?connect_timeout=5")
    assert site.shared and site.demo_accounts() == []  # nothing read before signing in
    with pytest.raises(DatabaseUnavailable, match="cannot be reached now"):
        site.sign_in("alice", "some-password")
