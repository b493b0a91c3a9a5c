"""User-facing errors: one clear sentence that names the fix, never a bare traceback.

Every mistake a user can make (bad config, unknown name, missing data, corrupt file, shapes that do
not match) raises :class:`TorchshrinkError` (or a subclass). The CLI prints its message on one line
and exits with status 2; library users can catch it.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class TorchshrinkError(Exception):
    """A mistake the user can fix; the message says how."""


class ConfigError(TorchshrinkError, ValueError):
    """An invalid configuration key or value."""


class DataError(TorchshrinkError, FileNotFoundError):
    """A data set that is missing, empty or malformed."""


class CheckpointError(TorchshrinkError):
    """A checkpoint or model file that is missing, corrupt or belongs to another model."""


class OutputError(TorchshrinkError, OSError):
    """A file or folder that cannot be written there (read-only, below a file, a name too long, a virtual file system)."""


class RunFolderBusy(TorchshrinkError):
    """The run folder is being written by another torchshrink process (its lock is held)."""


class DivergenceError(TorchshrinkError):
    """Training produced a NaN or infinite loss.

    ``what`` says what went wrong, ``suggested_lr`` the lower learning rate to resume with, ``kept`` whether
    a good checkpoint was kept: callers that run training for the user (a recipe step) reword the advice.
    """

    def __init__(self, message: str, what: str = "", suggested_lr: str | None = None, kept: bool = False) -> None:
        super().__init__(message)
        self.what, self.suggested_lr, self.kept = what or message, suggested_lr, kept


class TorchshrinkWarning(UserWarning):
    """Something allowed but probably not meant (e.g. a student larger than its teacher); the message says why.

    The CLI prints it as one line ``torchshrink: warning: ...`` and goes on.
    """


def suggest(name: str, valid: Iterable[str], n: int = 3) -> str:
    """Return ' (did you mean X?)' for the closest valid names, or ''.

    >>> suggest("resnett20", ["resnet20", "vgg8"])
    " (did you mean 'resnet20'?)"
    """
    close = difflib.get_close_matches(str(name), list(valid), n=n, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
