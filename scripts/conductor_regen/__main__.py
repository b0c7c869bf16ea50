"""`python -m conductor_regen ...` is the `conductor-regen` command."""

import os
import sys

# `python -m` puts the working folder first on sys.path. Inside the SDK's asyncio_client folder that
# makes its generated `http/` package shadow the standard library's `http`; the console script does
# not do this, so neither do we.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.getcwd():
    del sys.path[0]

from conductor_regen.cli.console import main  # noqa: E402

main()
