"""`python -m firstnet` runs the command-line tool."""

from firstnet.cli import main

raise SystemExit(main())
