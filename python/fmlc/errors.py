"""How fmlc's commands end: one error boundary for ``fmlc`` and ``fmlc-opt``.

- bad input of any kind (a model, IR, configuration, option, array or path the user gave):
  ``fmlc: error: WHAT: WHY`` on stderr, exit status 2 (``EXIT_USAGE``);
- an unexpected exception is a bug in fmlc: one line asking for a report, exit status 70
  (``EXIT_INTERNAL``, BSD's EX_SOFTWARE); the traceback only with ``--debug`` or
  ``FMLC_DEBUG=1``;
- SIGTERM and SIGHUP become a ``Terminated`` exception, so every ``finally`` and cleanup
  handler runs (staging folders are removed) before the process exits with 128 + signal.

``user_message`` is the one table of exceptions that mean "bad input"; everything else is
internal.  Library code raises its own errors (``ModelImportError``, ``ConfigError``,
``CompileError``, xDSL's ``ParseError``...); the commands never catch them one by one.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

MAX_MESSAGE_LINES = 12
MAX_LINE_CHARS = 240
BUG_REPORT = "this is a bug in fmlc: please report it with the command line and its input files"


class UserError(Exception):
    """Bad input from the user: reported as ``fmlc: error: ...`` without a traceback, exit 2."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt, so cleanups run."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def debug_requested(flag: bool = False) -> bool:
    return flag or os.environ.get("FMLC_DEBUG", "") not in ("", "0")


# --------------------------------------------------------------------------------------------
# which exceptions are the user's
# --------------------------------------------------------------------------------------------


def user_message(err: BaseException) -> str | None:
    """The message for an exception that means bad input, or None for an internal error."""
    from xdsl.utils.exceptions import DiagnosticException, ParseError

    from fmlc import diagnostics

    if isinstance(err, UserError | diagnostics.IRError):
        return str(err)
    if isinstance(err, ParseError):
        return diagnostics.format_parse_error(err)
    if isinstance(err, DiagnosticException):  # PassFailedException, VerifyException
        return diagnostics.first_lines(str(err))
    if isinstance(err, OSError):
        return os_message(err)
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})"
    for cls in _library_errors():
        if isinstance(err, cls):
            return str(err)
    return None


def _library_errors() -> tuple[type, ...]:
    """fmlc's own 'cannot do this with that input' errors (imported lazily: the CLI starts fast)."""
    from fmlc.driver import CompileError
    from fmlc.emulator import EmulationError
    from fmlc.frontend import ModelImportError
    from fmlc.frontend.config import ConfigError
    from fmlc.outputs import OutputError
    from fmlc.toolchain import ToolchainError

    return (ModelImportError, ConfigError, CompileError, EmulationError, ToolchainError, OutputError)


def os_message(err: OSError, path: object = None) -> str:
    """``PATH: reason`` for an OSError (permission denied, is a folder, read-only...)."""
    import errno

    where = path if path is not None else err.filename
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EISDIR: "is a folder, not a file",
        errno.ENOTDIR: "a part of this path is a file, not a folder",
        errno.ENOENT: "no such file or folder",
        errno.EEXIST: "already exists",
        errno.EROFS: "read-only file system",
        errno.ENOSPC: "no space left on the device",
        errno.ENAMETOOLONG: "file name too long",
        errno.ENOTEMPTY: "folder not empty",
        errno.ELOOP: "too many levels of symbolic links",
    }
    reason = reasons.get(err.errno, err.strerror or type(err).__name__)
    if err.filename2 is not None and path is None:
        return f"{err.filename} -> {err.filename2}: {reason}"
    return f"{where}: {reason}" if where is not None else reason


def clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 5] + " ..."


# --------------------------------------------------------------------------------------------
# the boundary
# --------------------------------------------------------------------------------------------


def report_user_error(message: str) -> None:
    lines = message.strip("\n").splitlines() or ["(no message)"]
    shown = [clip(line) for line in lines[:MAX_MESSAGE_LINES]]
    if len(lines) > MAX_MESSAGE_LINES:
        shown.append(f"... ({len(lines) - MAX_MESSAGE_LINES} more lines)")
    print("fmlc: error: " + "\n".join(shown), file=sys.stderr, flush=True)


def run_command(body: Callable[[], None], debug: bool = False) -> int:
    """Run ``body`` and turn how it ends into an exit status (see the module docstring)."""
    debug = debug_requested(debug)
    try:
        with terminate_on_signals():
            body()
    except Terminated as err:
        print(f"fmlc: {err}", file=sys.stderr, flush=True)
        return 128 + err.signum
    except KeyboardInterrupt:
        print("fmlc: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `fmlc import m.onnx | head`: the reader left; not an error of ours
        _silence_stdout()
        return EXIT_OK
    except SystemExit:
        raise
    except Exception as err:  # noqa: BLE001 - the boundary: every exception ends here
        try:
            message = user_message(err)
        except Exception:  # noqa: BLE001 - the table itself failed (a broken install): internal
            message = None
        if debug:
            traceback.print_exc()
        if message is not None:
            report_user_error(message)
            return EXIT_USAGE
        summary = clip(f"{type(err).__name__}: {err}".splitlines()[0])
        hint = "" if debug else "; rerun with --debug (or FMLC_DEBUG=1) for the traceback"
        print(f"fmlc: internal error: {summary} ({BUG_REPORT}{hint})", file=sys.stderr, flush=True)
        return EXIT_INTERNAL
    return EXIT_OK


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@contextmanager
def terminate_on_signals() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise ``Terminated`` (in the main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise Terminated(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_IGN:  # e.g. under nohup: stay ignored
            continue
        try:
            previous[sig] = signal.signal(sig, handler)
        except (OSError, ValueError):
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
