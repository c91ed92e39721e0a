"""What stops a run because of its checkpoints: one line each, naming the file."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from; the message names it."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint that could not be written (or a checkpoint folder that cannot be written to); the message
    names the file, the cause and the last checkpoint on disk."""
