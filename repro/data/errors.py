"""The one error the data layer raises for missing, unreadable or malformed datasets."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset is missing, unreadable or malformed; the message is one line saying which and why.

    Any whitespace in the message, newlines included, is collapsed to single spaces, so that the
    command line can print it as it is, without a traceback.
    """

    def __init__(self, message: object) -> None:
        super().__init__(" ".join(str(message).split()))
