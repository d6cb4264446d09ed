"""Diagnostics: one record, a registry of codes, and renderers (text, JSON, LSP)."""

from .model import Diagnostic, Label, Severity, sort_key, has_errors
from .codes import CODES, Code

__all__ = ["Diagnostic", "Label", "Severity", "sort_key", "has_errors", "CODES", "Code"]
