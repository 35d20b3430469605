"""Names as the search index holds them (``ry:names:{n}``, see ``keys``)."""

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def fold(text: str) -> str:
    """``text`` casefolded with control characters as spaces.

    Both the stored names and a search string are folded, so a search is
    case-insensitive, and it can never match across the tab and newline that
    separate the records of the index.
    """
    return _CONTROL.sub(" ", text.casefold())
