"""Regenerate the Conductor Python SDK's async client from an Orkes OpenAPI spec."""

from __future__ import annotations

__version__ = "0.1.0"
