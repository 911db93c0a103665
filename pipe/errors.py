"""The one error the entry point shows: a message that says what went wrong and what to do."""


class PipeError(Exception):
    pass
