"""PyInstaller entry script: runs the same ``main`` as the ``email-campaigns`` command."""

from app.cli import main

raise SystemExit(main())
