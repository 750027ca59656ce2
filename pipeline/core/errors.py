"""Errors a user can act on: the CLI prints them as one clear message and exits non-zero."""


class PipelineError(Exception):
    """Base for every error whose message is meant for the user, not a traceback."""


class DataError(PipelineError):
    """Input data is not what the task expects (names the file, column or row)."""


class ModelError(PipelineError):
    """A model or its artifacts are missing, inconsistent or fail a check."""
