"""`python -m in_sdk_venv --input IN.json --output OUT.json`: one contract run inside the SDK's virtualenv."""

import sys

from .driver import main

sys.exit(main())
