"""Fixture specs derived on the fly from the bundled ones."""

from __future__ import annotations

import json
from pathlib import Path

from support.paths import SPEC_V1


def oss_like_spec(dest: Path) -> Path:
    """orkes-v1.json without the Orkes-only operations: what a Conductor OSS server describes."""
    spec = json.loads(SPEC_V1.read_text())
    for path, method in (("/api/token", "post"), ("/api/applications", "get"), ("/api/secrets", "get")):
        del spec["paths"][path][method]
        if not any(k in spec["paths"][path] for k in ("get", "put", "post", "delete", "patch", "head", "options")):
            del spec["paths"][path]
    dest.write_text(json.dumps(spec, indent=2))
    return dest
