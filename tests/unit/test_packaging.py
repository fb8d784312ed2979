"""Desktop integration and packaging files: validated with the real tools where present.

``desktop-file-validate`` (desktop-file-utils) and ``appstreamcli`` (appstream) are
installed by ``packaging/install-system-deps.sh``. Without them the tests are skipped
locally, but fail when ``CI=true``: a CI run must not pass by skipping.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"
DESKTOP = PACKAGING / f"{app.APP_ID}.desktop"
METAINFO = PACKAGING / f"{app.APP_ID}.metainfo.xml"
SPEC = PACKAGING / "email-campaigns.spec"
LAUNCHER = PACKAGING / "launcher.py"
MIGRATIONS = ROOT / "app" / "db" / "migrations"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (run packaging/install-system-deps.sh as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; it is required when CI=true")
        pytest.skip(message)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8", "NO_COLOR": "1"},
    )


# --- desktop entry ----------------------------------------------------------------


def test_desktop_entry_passes_desktop_file_validate() -> None:
    result = run(tool("desktop-file-validate"), str(DESKTOP))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Hints are advice; errors and warnings are not acceptable.
    problems = [line for line in output.splitlines() if ": error:" in line or ": warning:" in line]
    assert problems == [], output


def test_desktop_entry_launches_the_console_script_with_the_app_icon() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == app.APP_NAME
    assert entry["Exec"] == "email-campaigns"
    assert entry["Icon"] == app.APP_ID
    assert entry["Terminal"] == "false"
    assert "Email" in entry["Categories"].split(";")


# --- AppStream metainfo -----------------------------------------------------------


def test_metainfo_passes_appstreamcli_validate() -> None:
    result = run(tool("appstreamcli"), "validate", "--no-net", str(METAINFO))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # appstreamcli prefixes issues with E: (error), W: (warning), I: (info), P: (pedantic).
    problems = [line for line in output.splitlines() if line.startswith(("E:", "W:"))]
    assert problems == [], output


def test_metainfo_matches_the_application() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component"
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == app.APP_ID
    assert root.findtext("name") == app.APP_NAME
    launchable = root.find("launchable")
    assert launchable is not None
    assert launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP.name
    developer = root.find("developer")
    assert developer is not None
    assert developer.get("id")
    assert developer.findtext("name")
    assert root.find("content_rating") is not None
    versions = [release.get("version") for release in root.iter("release")]
    assert versions, "no <release> entries"
    assert versions[0] == app.__version__, "the newest release must be listed first"
    assert len(root.findall("description/p")) >= 2


# --- icons ------------------------------------------------------------------------


def test_svg_icon_is_a_256_pixel_square() -> None:
    svg = RESOURCES / "icon.svg"
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"
    assert not list(root.iter("{http://www.w3.org/2000/svg}text")), "the icon must not use text"
    renderer = QSvgRenderer(str(svg))
    assert renderer.isValid()


def render_svg(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(RESOURCES / "icon.svg")).render(painter)
    painter.end()
    return image


def mean_difference(a: QImage, b: QImage) -> float:
    left = bytes(a.convertToFormat(QImage.Format.Format_ARGB32).constBits())
    right = bytes(b.convertToFormat(QImage.Format.Format_ARGB32).constBits())
    assert len(left) == len(right)
    return sum(abs(x - y) for x, y in zip(left, right, strict=True)) / len(left)


@pytest.mark.parametrize("size", [256, 64])
def test_png_icon_is_rendered_from_the_svg(size: int) -> None:
    path = RESOURCES / f"icon-{size}.png"
    image = QImage(str(path))
    assert not image.isNull(), f"{path} does not load"
    assert (image.width(), image.height()) == (size, size)
    assert image.hasAlphaChannel()
    # Rounded corners are transparent, the middle is opaque.
    assert image.pixelColor(0, 0).alpha() == 0
    assert image.pixelColor(size // 2, size // 2).alpha() == 255
    # Not stale: the PNG still looks like the SVG rendered at that size.
    assert mean_difference(image, render_svg(size)) < 3.0, f"re-render {path.name}"


# --- PyInstaller ------------------------------------------------------------------


def test_launcher_runs_the_cli_main() -> None:
    tree = ast.parse(LAUNCHER.read_text(encoding="utf-8"), filename=str(LAUNCHER))
    imports = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    assert ("app.cli", "main") in imports
    assert any(isinstance(node, ast.Raise) for node in ast.walk(tree))


def test_spec_parses_and_names_the_launcher_and_migrations() -> None:
    source = SPEC.read_text(encoding="utf-8")
    ast.parse(source, filename=str(SPEC))
    assert "launcher.py" in source
    assert '"app", "db", "migrations"' in source or "app/db/migrations" in source
    for module in ("sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.postgresql.psycopg"):
        assert f'"{module}"' in source
    assert '"keyring.backends"' in source


class Recorder:
    """Stands in for PyInstaller's build classes and keeps their arguments."""

    calls: dict[str, tuple[tuple[Any, ...], dict[str, Any]]]

    def __init__(self) -> None:
        self.calls = {}

    def __call__(self, name: str) -> Any:
        def build(*args: Any, **kwargs: Any) -> types.SimpleNamespace:
            self.calls[name] = (args, kwargs)
            return types.SimpleNamespace(pure=[], scripts=[], binaries=[], datas=[])

        return build


def test_spec_bundles_data_where_the_frozen_app_looks_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def collect_submodules(package: str, filter: Any = None) -> list[str]:
        return [f"{package}.stub"]

    def copy_metadata(package: str) -> list[tuple[str, str]]:
        return [(f"/site-packages/{package}.dist-info", f"{package}.dist-info")]

    hooks = types.ModuleType("PyInstaller.utils.hooks")
    vars(hooks).update(collect_submodules=collect_submodules, copy_metadata=copy_metadata)
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)

    recorder = Recorder()
    namespace = {"SPECPATH": str(PACKAGING), "__file__": str(SPEC)}
    namespace |= {name: recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT")}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)

    (scripts,), analysis = recorder.calls["Analysis"]
    assert [Path(s).resolve() for s in scripts] == [LAUNCHER.resolve()]

    # In the bundle app.__file__ is <bundle>/app/__init__.pyc, so app.paths.resources_dir()
    # is <bundle>/resources and app.db.migrate.MIGRATIONS is <bundle>/app/db/migrations.
    bundled = {}
    for source, dest in analysis["datas"]:
        if Path(source).is_dir():
            for path in Path(source).rglob("*"):
                if path.is_file():
                    bundled[Path(dest, path.relative_to(source))] = path.resolve()
        else:
            bundled[Path(dest, Path(source).name)] = Path(source).resolve()
    for path in RESOURCES.iterdir():
        assert bundled.get(Path("resources", path.name)) == path.resolve()
    scripts_needed = [
        MIGRATIONS / "env.py",
        MIGRATIONS / "script.py.mako",
        *sorted((MIGRATIONS / "versions").glob("*.py")),
    ]
    assert len(scripts_needed) > 2, "no migration versions found"
    for path in scripts_needed:
        dest = path.relative_to(ROOT)
        assert bundled.get(dest) == path.resolve(), f"{dest} is not bundled"
    assert not [dest for dest in bundled if "__pycache__" in dest.parts]

    hidden = analysis["hiddenimports"]
    for module in (
        "sqlalchemy.dialects.sqlite",
        "sqlalchemy.dialects.postgresql.psycopg",
        "keyring.backends.stub",
        "alembic.stub",
    ):
        assert module in hidden

    _, exe = recorder.calls["EXE"]
    assert exe["name"] == "email-campaigns"
    assert exe["console"] is False
    _, collect = recorder.calls["COLLECT"]
    assert collect["name"] == "email-campaigns"


def test_systemd_unit_runs_serve_and_passes_systemd_analyze(tmp_path: Path) -> None:
    """The unit of a site's channel service: upgrade the schema, then `serve`; stopped by
    SIGTERM (serve ends its batch and gives up its leases); restarted on failure."""
    import configparser
    import shutil
    import subprocess
    import sys

    unit_path = ROOT / "packaging" / "email-campaigns.service"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(unit_path)
    service = unit["Service"]
    assert service["ExecStart"].endswith("/email-campaigns serve")
    assert service["ExecStartPre"].endswith("/email-campaigns db upgrade")
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "on-failure"
    assert "EMAIL_CAMPAIGNS_HOME" in service["Environment"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # not a systemd machine: the parse above is what can be checked
    script = Path(sys.executable).with_name("email-campaigns")
    local = tmp_path / "email-campaigns.service"
    local.write_text(
        unit_path.read_text().replace("/opt/email-campaigns/.venv/bin/email-campaigns", str(script))
    )
    result = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "email-campaigns.service" not in result.stderr, result.stderr
