"""The error every module raises for bad user input, kept free of heavy imports.

Subclasses name their area (ConfigError, CheckpointError, DataError, VocabError, ...);
`cli.run_main` turns any of them into one clear line on stderr and exit status 2.
"""


class UserError(ValueError):
    """Bad input from the user: the message names the file, flag or record and what to do."""


class DataError(UserError):
    """An input data file that cannot be used: not readable, not the expected format, or
    records that break its rules; the message names the file and the first bad entry."""


class Stopped(Exception):
    """Training stopped on request (SIGTERM, SIGINT) after writing a checkpoint: not an error
    of the user's, but a non-zero exit (`exit_code`, 128 + the signal) with one line."""

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code
