"""The TensorFlow/Keras engine: the same network, losses, options and schedule as the PyTorch one.

Needs the optional extra (`pip install 'brushwork[tensorflow]'`); importing this package without
it raises `BackendUnavailable` with that one line, which the CLI and server turn into a clear error.
"""

from __future__ import annotations

import os

from ..errors import BackendUnavailable

INSTALL_HINT = "the tensorflow backend needs TensorFlow and Keras 3: pip install 'brushwork[tensorflow]'"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter is not for users
try:
    import keras
    import tensorflow  # noqa: F401
except ImportError:
    raise BackendUnavailable(INSTALL_HINT) from None
if int(keras.__version__.split(".")[0]) < 3:
    raise BackendUnavailable(f"{INSTALL_HINT} (found Keras {keras.__version__})")

from .losses import content_loss, gram_matrix, style_loss, total_variation_loss  # noqa: E402
from .model import StyleTransferModel  # noqa: E402
from .network import VGG19Features  # noqa: E402

__all__ = ["INSTALL_HINT", "StyleTransferModel", "VGG19Features", "content_loss", "gram_matrix", "style_loss",
           "total_variation_loss"]
