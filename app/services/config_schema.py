"""The shape of a configuration file (docs/config-format.md), checked before anything is
imported: every key of every object is known, every value of its type — booleans are JSON
``true``/``false`` (the string ``"false"`` is not false), whole numbers are numbers, texts
fit the database's columns — and each problem is named by its JSON path, e.g.
``$.channels[2].filters[0].keywrd: unknown key``. What the values mean (a port's range, a
name's uniqueness, a reference to another object) the services check as the screens do.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from app.db.models import (
    Campaign,
    CampaignGroup,
    Channel,
    Filter,
    Organisation,
    Team,
    Template,
    User,
)
from app.domain.enums import AfterRetrieval, FilterField, FilterMatch, Role, Security

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # the database's INTEGER
SHOWN = 20  # problems listed at most; the rest are counted


@dataclass(frozen=True)
class Text:
    max_length: int | None = None  # after trimming, as the services trim
    choices: tuple[str, ...] = ()
    nullable: bool = False


@dataclass(frozen=True)
class Whole:
    minimum: int = INT_MIN
    maximum: int = INT_MAX


@dataclass(frozen=True)
class Flag:
    pass


@dataclass(frozen=True)
class Items:
    item: Shape


@dataclass(frozen=True)
class Obj:
    keys: dict[str, Shape]
    required: frozenset[str] = field(default_factory=frozenset)


Shape = Text | Whole | Flag | Items | Obj


class JsonObject(dict[str, Any]):
    """A JSON object as read, with the keys it gave more than once (the last one wins in
    a plain dict: a second ``"enabled": true`` would hide the first)."""

    duplicates: tuple[str, ...] = ()


def object_pairs(pairs: list[tuple[str, Any]]) -> JsonObject:
    """``json.loads``'s ``object_pairs_hook``."""
    found = JsonObject(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        twice: list[str] = []
        for key, _value in pairs:
            if key in seen:
                twice.append(key)
            seen.add(key)
        found.duplicates = tuple(twice)
    return found


def _column(attribute: InstrumentedAttribute[Any]) -> int | None:
    return getattr(attribute.property.columns[0].type, "length", None)


def _name(attribute: InstrumentedAttribute[Any], *, nullable: bool = False) -> Text:
    return Text(_column(attribute), nullable=nullable)


def _choice(enum_type: type[Any]) -> Text:
    return Text(choices=tuple(m.value for m in enum_type))


NAMES = Items(Text(200))

SCHEMA = Obj(
    {
        "format_version": Whole(),
        "settings": Obj(
            {
                "organisation_name": _name(Organisation.name),
                "timezone": _name(Organisation.timezone),
                "date_format": _name(Organisation.date_format),
                "default_email_channel": _name(Channel.name, nullable=True),
                "max_message_size_mb": Whole(),
                "held_email_timeout_minutes": Whole(),
            }
        ),
        "groups": Items(
            Obj(
                {
                    "name": _name(CampaignGroup.name),
                    "description": Text(),
                    "parent": _name(CampaignGroup.name, nullable=True),
                },
                frozenset({"name"}),
            )
        ),
        "teams": Items(
            Obj(
                {"name": _name(Team.name), "description": Text(), "public": Flag()},
                frozenset({"name"}),
            )
        ),
        "users": Items(
            Obj(
                {
                    "login": _name(User.login),
                    "display_name": _name(User.display_name),
                    "email": _name(User.email),
                    "role": _choice(Role),
                    "active": Flag(),
                    "teams": Items(_name(Team.name)),
                },
                frozenset({"login"}),
            )
        ),
        "templates": Items(
            Obj(
                {
                    "name": _name(Template.name),
                    "subject": _name(Template.subject),
                    "body": Text(),
                    "body_html": Text(nullable=True),
                },
                frozenset({"name"}),
            )
        ),
        "channels": Items(
            Obj(
                {
                    "name": _name(Channel.name),
                    "email_address": _name(Channel.email_address),
                    "display_name": _name(Channel.display_name),
                    "default_campaign": _name(Campaign.title, nullable=True),
                    "enabled": Flag(),
                    "imap": Obj(
                        {
                            "host": _name(Channel.imap_host),
                            "port": Whole(),
                            "security": _choice(Security),
                            "username": _name(Channel.imap_username),
                            "folder": _name(Channel.imap_folder),
                            "after_retrieval": _choice(AfterRetrieval),
                            "move_folder": _name(Channel.move_folder),
                            "check_interval": Whole(),
                            "ca_file": _name(Channel.ca_file),
                        }
                    ),
                    "smtp": Obj(
                        {
                            "host": _name(Channel.smtp_host),
                            "port": Whole(),
                            "security": _choice(Security),
                            "username": _name(Channel.smtp_username),
                            "save_sent_copy": Flag(),
                            "sent_folder": _name(Channel.sent_folder),
                            "max_recipients": Whole(minimum=1, maximum=10000),
                        }
                    ),
                    "allow_insecure": Flag(),
                    "filters": Items(
                        Obj(
                            {
                                "field": _choice(FilterField),
                                "match": _choice(FilterMatch),
                                "keyword": _name(Filter.keyword),
                                "campaign": _name(Campaign.title),
                                "enabled": Flag(),
                            },
                            frozenset({"field", "keyword", "campaign"}),
                        )
                    ),
                },
                frozenset({"name"}),
            )
        ),
        "campaigns": Items(
            Obj(
                {
                    "title": _name(Campaign.title),
                    "description": Text(),
                    "group": _name(CampaignGroup.name),
                    "allow_free_format": Flag(),
                    "require_address_confirmation": Flag(),
                    "allow_put_back": Flag(),
                    "allow_move": Flag(),
                    "allow_draft": Flag(),
                    "email_channel": _name(Channel.name, nullable=True),
                    "service_level_period": Whole(),
                    "teams": Items(_name(Team.name)),
                    "templates": Items(
                        Obj(
                            {"name": _name(Template.name), "added_on": Text(nullable=True)},
                            frozenset({"name"}),
                        )
                    ),
                },
                frozenset({"title", "group"}),
            )
        ),
    }
)

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def key_path(path: str, key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}"
    quoted = json.dumps(key[:40], ensure_ascii=False)
    return f'{path}[{quoted[:-1]}…"]' if len(key) > 40 else f"{path}[{quoted}]"


def shown(value: Any) -> str:
    """A value as a message may quote it: short, on one line, never walked into (an array
    may hold a thousand levels of arrays)."""
    if isinstance(value, str):
        quoted = json.dumps(value[:40])
        return f'the text {quoted[:-1]}…"' if len(value) > 40 else f"the text {quoted}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else "a number of more than 30 digits"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def problems(data: Any) -> list[tuple[str, str]]:
    """Every problem of shape in ``data`` (a parsed file) as (JSON path, message)."""
    found: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        found.append(("$", f"must be a JSON object ({{…}}), not {shown(data)}."))
        return found
    _check(SCHEMA, data, "$", found)
    return found


def _check(shape: Shape, value: Any, path: str, found: list[tuple[str, str]]) -> None:
    if isinstance(shape, Obj):
        _check_object(shape, value, path, found)
    elif isinstance(shape, Items):
        if not isinstance(value, list):
            found.append((path, f"must be an array ([…]), not {shown(value)}."))
            return
        for n, item in enumerate(value):
            _check(shape.item, item, f"{path}[{n}]", found)
    elif isinstance(shape, Flag):
        if not isinstance(value, bool):
            found.append((path, f"must be true or false, not {shown(value)}."))
    elif isinstance(shape, Whole):
        if isinstance(value, bool) or not isinstance(value, int):
            found.append((path, f"must be a whole number, not {shown(value)}."))
        elif not shape.minimum <= value <= shape.maximum:
            found.append((path, f"must be from {shape.minimum} to {shape.maximum}."))
    else:
        _check_text(shape, value, path, found)


def _check_object(shape: Obj, value: Any, path: str, found: list[tuple[str, str]]) -> None:
    if not isinstance(value, dict):
        found.append((path, f"must be an object ({{…}}), not {shown(value)}."))
        return
    found.extend(
        (key_path(path, key), "is given twice.") for key in getattr(value, "duplicates", ())
    )
    for key in sorted(shape.required - set(value)):
        found.append((key_path(path, key), "is required."))
    for key, item in value.items():
        if key in shape.keys:
            _check(shape.keys[key], item, key_path(path, key), found)
            continue
        close = difflib.get_close_matches(key, list(shape.keys), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        found.append((key_path(path, key), f"unknown key{hint}."))


def _check_text(shape: Text, value: Any, path: str, found: list[tuple[str, str]]) -> None:
    if value is None and shape.nullable:
        return
    if not isinstance(value, str):
        wanted = "a text or null" if shape.nullable else "a text"
        found.append((path, f"must be {wanted}, not {shown(value)}."))
        return
    if "\x00" in value:
        found.append((path, "must not contain the NUL character (\\u0000)."))
    elif any("\ud800" <= ch <= "\udfff" for ch in value):
        found.append((path, "is not valid Unicode (a lone surrogate, \\ud800-\\udfff)."))
    elif shape.choices and value not in shape.choices:
        found.append((path, f"{shown(value)} is not one of: {', '.join(shape.choices)}."))
    elif shape.max_length is not None and len(value.strip()) > shape.max_length:
        found.append(
            (path, f"is too long ({len(value.strip())} characters, at most {shape.max_length}).")
        )


def summary(found: list[tuple[str, str]]) -> str:
    lines = [f"{path}: {message}" for path, message in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"… and {len(found) - SHOWN} more.")
    if len(found) == 1:
        return lines[0]
    return f"{len(found)} problems in the file:\n  " + "\n  ".join(lines)
