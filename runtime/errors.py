"""Errors a user of the runtime can act on; each message says what is wrong and what to do."""


class InputError(ValueError):
    """A frame, prompt or argument the tracker cannot use."""


class SessionError(RuntimeError):
    """A call that does not fit the session's state (e.g. a new object after tracking started)."""
