"""`python -m panoptui`: the command line (panoptui.cli.main)."""

import os
import sys

try:
    from panoptui.cli import main
except KeyboardInterrupt:  # Ctrl-C before main could take over its handling
    print("panoptui: interrupted", file=sys.stderr, flush=True)
    os._exit(130)  # nothing started yet that needs cleaning up

raise SystemExit(main())
