"""The errors of reading a checkpoint, each with a one-line message that says what to do."""


class CheckpointReadError(ValueError):
    """A checkpoint that cannot be read: not a checkpoint, refused, or not downloadable."""


class UnsafeCheckpointError(CheckpointReadError):
    """A checkpoint whose unpickling would call something outside the allow-list: it could run code."""


class DownloadError(CheckpointReadError):
    """A checkpoint URL that could not be downloaded into the cache."""
