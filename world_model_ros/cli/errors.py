"""User mistakes as one line each: what went wrong and the argument, key, file or topic.

Every verb already reports the mistakes it expects (a bad flag value, a missing checkpoint).
What reaches ``main`` unhandled is still most often the user's: a read-only or full disk under
``--output``, a file that is not what it was said to be, a YAML key of the wrong type. Those
known kinds become one line and exit code 2 here; anything else is a bug and keeps its
traceback (as do these with ``WMR_TRACEBACK=1`` in the environment, for a bug report).
"""

from __future__ import annotations

import errno


def user_error(exc: BaseException) -> str | None:
    """The one-line message for an exception that is a user's mistake; None for a bug."""
    if isinstance(exc, OSError):
        where = f"'{exc.filename}'" if exc.filename else "a file"
        if exc.filename2:
            where += f" -> '{exc.filename2}'"
        why = exc.strerror or str(exc) or type(exc).__name__
        hint = {
            errno.EROFS: " (a read-only file system: choose another folder)",
            errno.EACCES: " (no permission: choose another folder)",
            errno.ENOSPC: " (the disk is full)",
        }.get(exc.errno, "")
        return f"{where}: {why}{hint}"
    if isinstance(exc, ValueError) or _is_library_input_error(exc):
        # ConfigError, CheckpointError, ImageError and the validation of every dataclass are
        # ValueErrors whose message names the key, file or value.
        text = str(exc).strip() or type(exc).__name__
        return " ".join(line.strip() for line in text.splitlines() if line.strip())
    return None


def _is_library_input_error(exc: BaseException) -> bool:
    """rosbags' reader and writer errors and YAML syntax errors: a bag or file that is not
    what it should be."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    module = type(exc).__module__ or ""
    return (module.startswith("rosbags") and any(n.endswith("Error") for n in names)) or (
        module.startswith("yaml") and "YAMLError" in names
    )
