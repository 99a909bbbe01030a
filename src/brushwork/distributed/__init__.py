"""Scale out: brushwork jobs on Celery workers over Redis (`pip install brushwork[distributed]`).

`CeleryQueue` is the server's job queue when `BRUSHWORK_BROKER_URL` is set; `brushwork worker`
runs the jobs. Importing this package needs Celery and redis-py, not torch.
"""

from .celery_app import BROKER_ENV, make_app
from .queue import CeleryQueue

__all__ = ["BROKER_ENV", "CeleryQueue", "make_app"]
