"""LossHistory and Previews: what the notebooks plot, fed with hand-made Progress records."""

from PIL import Image

from brushwork import LossHistory, Previews, Progress
from brushwork.callbacks import chain


def _progress(step: int, size: tuple[int, int], preview: Image.Image | None = None) -> Progress:
    return Progress(step=step, total=6, epoch=1, epochs=1, scale=1, scales=2, size=size,
                    losses={"content": 0.1 * step, "style": 1.0 / step, "tv": 0.0, "total": 1.0},
                    elapsed=0.0, eta=0.0, preview=preview)


def test_history_records_losses_and_where_levels_begin():
    history = LossHistory()
    for step, size in enumerate([(32, 24)] * 4 + [(64, 48)] * 2, start=1):
        history(_progress(step, size))
    assert history.steps == [1, 2, 3, 4, 5, 6]
    assert history.series("style")[1] == 0.5
    assert history.level_starts() == [(1, (32, 24)), (5, (64, 48))]
    assert LossHistory().level_starts() == []


def test_previews_keep_only_steps_that_carry_an_image():
    previews, history = Previews(), LossHistory()
    callback = chain(history, previews)
    picture = Image.new("RGB", (8, 6), "red")
    for step in range(1, 7):
        callback(_progress(step, (8, 6), picture if step % 3 == 0 else None))
    assert previews.steps == [3, 6] and previews.sizes == [(8, 6), (8, 6)]
    assert previews.images == [picture, picture]
    assert len(history.steps) == 6
