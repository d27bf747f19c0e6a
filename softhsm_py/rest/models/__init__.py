"""Pydantic v2 models named after the TSB's DTOs (``extra="forbid"`` on every request model)."""
