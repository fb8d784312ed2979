"""`python -m app` runs the `email-campaigns` command."""

import sys

from app.cli import main

sys.exit(main())
