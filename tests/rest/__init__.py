"""REST front end tests: a real softhsm-py serve process and real clients."""
