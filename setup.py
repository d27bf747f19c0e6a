"""setuptools hook for the cffi-built library (build.py); everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["build.py:ffibuilder"])
