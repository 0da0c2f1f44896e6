"""The one exception type a user sees: a problem they can fix, said in one line."""


class GpuclustError(Exception):
    """Bad input or a bad option. The CLI prints the message alone and exits non-zero."""
