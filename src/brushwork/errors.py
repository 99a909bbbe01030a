"""Library exceptions: front ends map these to exit codes and HTTP statuses, never the reverse."""

from __future__ import annotations


class BrushworkError(Exception):
    """Base class of every error brushwork raises on purpose; its message is one readable line."""


class InvalidInputError(BrushworkError, ValueError):
    """An option or argument is out of range or of the wrong kind."""


class ImageDecodeError(BrushworkError):
    """Bytes or a file could not be read as an image."""


class ImageTooLargeError(BrushworkError):
    """An image has more pixels than allowed (decompression-bomb guard or a configured limit)."""


class WeightsError(BrushworkError):
    """A weights file is missing, unreadable or not a VGG-19 state dict we understand."""


class DeviceError(BrushworkError):
    """The requested device or precision is not available on this machine."""


class BackendUnavailable(DeviceError):
    """The requested engine (e.g. backend='tensorflow') is not installed; the message says how to get it."""


class Cancelled(BrushworkError):
    """Raised by a progress callback to stop a run; the engine lets it through untouched."""


class QueueFull(BrushworkError):
    """A job queue is at capacity; try again in `retry_after` seconds."""

    def __init__(self, message: str = "the job queue is full; try again later", retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobNotReady(BrushworkError):
    """The job exists but has no result (yet, or ever: failed or cancelled)."""


class BrokerUnavailable(BrushworkError):
    """The distributed job broker (Redis) cannot be reached; the server answers 503 until it is back."""


class JobNotFound(BrushworkError):
    """No job with that id (never existed, or expired)."""


class MemoryBudgetError(InvalidInputError):
    """The memory budget (`max_memory`) cannot hold the smallest tile of a level; says what it needs."""


class OutOfMemory(BrushworkError):
    """The machine ran out of memory although the plan fit the budget (other programs took it)."""
