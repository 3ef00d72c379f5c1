"""Every exception kinetic raises on purpose.

Each message says what failed, names the offending value, and says what to do next.
"""

from __future__ import annotations


class KineticError(Exception):
    """Base class of every error kinetic raises on purpose."""


class ConfigError(KineticError, ValueError):
    """A setting (decorator argument, environment variable or profile entry) is invalid."""


class AcceleratorError(ConfigError):
    """An accelerator name, count, topology or option combination is invalid."""


class PackagingError(KineticError):
    """The project archive could not be built (unreadable file, symlink loop, size limit)."""


class SerializationError(KineticError):
    """The function, its arguments or its result could not be pickled or unpickled."""


class RequirementsError(ConfigError):
    """A requirements line cannot be installed inside a container image."""


class BuildError(KineticError):
    """A container image build or push failed."""


class BackendError(KineticError):
    """A backend could not submit, inspect or cancel a job."""


class StoreError(KineticError):
    """An artifact could not be written to or read from the store."""


class IntegrityError(StoreError):
    """An artifact's content does not match the sha256 it is named by."""


class JobNotFound(KineticError, LookupError):
    """No job with the given id exists in the store."""


class JobFailed(KineticError):
    """The job ended without a success record.

    ``phase`` is the runner phase that failed (fetch, verify, extract, unpickle, execute,
    serialize-result) or ``None`` when the runner never wrote a record; ``exit_code`` is the
    process exit code where one is known.
    """

    def __init__(self, message: str, *, job_id: str | None = None, phase: str | None = None,
                 exit_code: int | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.phase = phase
        self.exit_code = exit_code


class JobCancelled(KineticError):
    """The job was cancelled before it wrote a result."""


class JobTimeout(KineticError, TimeoutError):
    """Waiting for a job took longer than the caller's ``timeout``; the job keeps running."""


class RemoteError(KineticError):
    """A remote exception whose type cannot be rebuilt in this process.

    ``type_name`` is the qualified name of the remote type, ``remote_traceback`` the
    formatted remote traceback.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        text = f"{self.type_name}: {self.remote_message}"
        if self.remote_traceback:
            text += "\n\nRemote traceback:\n" + self.remote_traceback.rstrip()
        return text
