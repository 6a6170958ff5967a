"""The one exception type users see.

Library code raises :class:`DfrobustError` for anything the *user* can fix (a bad
path, a malformed split file, an unknown name). The CLI prints its message and
exits non-zero without a traceback; anything else is a bug and keeps its traceback.
"""


class DfrobustError(Exception):
    """A problem with the user's input: the message names the file and the fix."""
