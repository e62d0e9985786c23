"""Errors meant for people: one sentence naming the problem and the fix, shown without a traceback."""


class UserError(Exception):
    """A problem the person running the command can fix (configuration, input, environment)."""
