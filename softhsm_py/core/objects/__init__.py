"""Objects: attribute codecs, the attribute policy tables, and the factory that reads them."""

from softhsm_py.core.objects.factory import (
    Actor,
    Origin,
    build,
    check_destroy,
    index_of,
    matches,
    modify,
    read,
)

__all__ = ["Actor", "Origin", "build", "check_destroy", "index_of", "matches", "modify", "read"]
