"""brushwork: neural style transfer (Gatys et al.) that is fast on a CPU and easy to run.

    >>> import brushwork
    >>> image = brushwork.stylize("photo.jpg", "painting.jpg", size=512)

For many calls, build one `Stylizer` (it loads VGG-19 once and caches style targets).
Importing brushwork never imports the web server.
"""

from .callbacks import CancelToken, LossHistory, Previews, Progress, SaveEvery
from .pipeline import StyleResult
from .stylizer import Stylizer, stylize
from .errors import (BackendUnavailable, BrushworkError, Cancelled, DeviceError, ImageDecodeError, ImageTooLargeError,
                     InvalidInputError, JobNotFound, MemoryBudgetError, OutOfMemory, QueueFull, WeightsError)
from .options import StyleOptions, make_options

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable", "BrushworkError", "CancelToken", "Cancelled", "DeviceError", "ImageDecodeError",
    "ImageTooLargeError", "InvalidInputError", "JobNotFound", "LossHistory", "MemoryBudgetError", "OutOfMemory", "Previews", "Progress", "QueueFull",
    "SaveEvery", "StyleOptions",
    "StyleResult", "Stylizer", "WeightsError", "__version__", "make_options", "stylize",
]
