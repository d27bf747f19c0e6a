"""Mechanisms: the registry and one module per family."""
