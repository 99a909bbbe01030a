"""Write ModelRunDefinition.ipynb and QuickRunModel.ipynb from the cell texts below.

The notebooks are generated, not hand-edited, so their diffs stay readable and they are always
committed without outputs. After changing a cell here, run:

    python notebooks/make_notebooks.py

The first code cell of each notebook is its parameter cell (tagged "parameters", as papermill
expects); the tests execute the notebooks with small values injected right after it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

MODEL_RUN_DEFINITION = [
    ("md", """\
# ModelRunDefinition: neural style transfer, step by step

This notebook builds the style transfer of Gatys, Ecker & Bethge (*A Neural Algorithm of Artistic
Style*, 2015) from brushwork's own building blocks, one step per section:

1. loading and preprocessing the images
2. VGG-19 and its layers (with feature maps)
3. the content cost
4. the Gram matrix and the style cost
5. the total cost
6. the optimizer and its learning rate
7. the whole optimization inside one model call, with its loss curves and intermediate images
8. the content/style weight trade-off
9. colour preservation

Everything runs offline on a CPU (a GPU is used when there is one): the VGG-19 weights come with
the package. For a single stylization without the explanations, open `QuickRunModel.ipynb`."""),
    ("md", """\
## Parameters

Change these and run the notebook again (*Run → Run All Cells*). The paths are relative to this
folder; the defaults are the images bundled with brushwork. `STEPS` is the number of optimizer
steps per run: more steps give a more finished image and take longer. The notebook makes about a
dozen runs, so on a CPU keep `SIZE` small; with a GPU, 512 px and more is quick."""),
    ("params", """\
CONTENT = "../examples/astronaut.jpg"   # the photo
STYLE = "../examples/strokes.png"       # the painting
SIZE = 256                              # long side of the images, in pixels
STEPS = 60                              # optimizer steps per run
CONTENT_WEIGHTS = (1.0, 4.0)            # rows of the trade-off grid (section 8)
STYLE_WEIGHTS = (1.0, 10.0, 100.0)      # columns of the trade-off grid
DEVICE = "auto"                         # "auto", "cpu", "cuda", "cuda:1", "mps\""""),
    ("code", """\
import torch

import brushwork
from brushwork import imaging, losses, plotting
from brushwork.callbacks import chain
from brushwork.device import resolve
from brushwork.features import LAYER_NAMES, build_features
from brushwork.metrics import score
from brushwork.options import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from brushwork.weights import load_vgg19_weights

placement = resolve(DEVICE)   # "auto": CUDA, then Apple MPS, else the CPU; bf16 where the hardware is fast at it
print(f"running on {placement.device} in {placement.precision}")"""),
    ("md", """\
## 1. Loading and preprocessing the images

`imaging.load_tensor` reads any common image file (or bytes, a PIL image, a numpy array),
converts it to RGB, scales its long side to `SIZE` and returns a tensor of shape
(1, 3, H, W) with values in [0, 1]. The style image is scaled the same way; it need not have the
content's shape, because only its statistics will matter.

The network's own preprocessing — the original VGG-19 was trained on BGR images in 0–255 with
the ImageNet mean subtracted — happens inside the network (its `preprocess` module), so the
image we optimize stays an ordinary RGB picture."""),
    ("code", """\
content = imaging.load_tensor(CONTENT, SIZE, placement.device)
style = imaging.load_tensor(STYLE, SIZE, placement.device)
print("content", tuple(content.shape), "style", tuple(style.shape))
fig = plotting.show_images([content, style], ["content", "style"])"""),
    ("md", """\
## 2. VGG-19 and its layers

VGG-19 is an image classifier with 16 convolution layers in five blocks. We keep only its
convolutional part and name every point in it: `conv3_1` is the first convolution of block 3,
`relu3_1` the same after its ReLU, `pool3` the pooling that ends the block. As Gatys et al. did,
the max-pooling is replaced by average pooling, which gives smoother gradients.

The weights are the original Oxford ones, embedded in the package and read by
`load_vgg19_weights`. `build_features` makes a frozen network cut after the deepest layer we
need, on the chosen device and in the chosen precision."""),
    ("code", """\
STYLE_LAYERS, CONTENT_LAYERS = DEFAULT_STYLE_LAYERS, DEFAULT_CONTENT_LAYERS
weights = load_vgg19_weights()
network = build_features(weights, STYLE_LAYERS + CONTENT_LAYERS, "avg", placement.device, placement.dtype)
print(f"{weights.input_format} input convention, from {weights.source}")
print(f"{len(LAYER_NAMES)} named layers; cut after {network.names[-1]}:")
print(" ".join(network.names))"""),
    ("md", """\
A forward pass returns the activations at the layers we ask for. Below, for a few layers, are
the six channels of each that vary most across the content image. The early layers keep the full
resolution and respond to edges and colour; deeper layers are coarser, and each position
responds to a larger part of the picture."""),
    ("code", """\
with torch.no_grad():
    content_features = network(content, ["relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"])
fig = plotting.show_feature_maps(content_features, per_layer=6)"""),
    ("md", """\
## 3. The content cost

The content cost compares the generated image's activations at `relu4_2` with the content
image's. Gatys et al. use the squared error; brushwork divides it by the squared norm of the
target (a *relative* error), so the same weights work at every image size and layer.

It is zero for the content image itself, small for a blurred copy (the same things in the same
places) and large for the style image or for noise."""),
    ("code", """\
def content_cost(image):
    found = network(image, CONTENT_LAYERS)
    return sum(losses.content_loss(found[name], content_targets[name]) for name in CONTENT_LAYERS) / len(CONTENT_LAYERS)

with torch.no_grad():
    content_targets = {name: value.float() for name, value in network(content, CONTENT_LAYERS).items()}
    blurred = torch.nn.functional.avg_pool2d(content, 5, stride=1, padding=2, count_include_pad=False)
    style_as_content = torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bilinear")
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(0)).to(placement.device)
    for name, image in [("content", content), ("blurred content", blurred),
                        ("style image", style_as_content), ("noise", noise)]:
        print(f"content cost of the {name:16s} {float(content_cost(image)):.3f}")"""),
    ("md", """\
## 4. The Gram matrix and the style cost

Style is what stays when *where* things are is forgotten. The Gram matrix of a layer holds, for
every pair of channels, how strongly they fire together, summed over all positions:
G = F Fᵀ / (H·W) for features F of shape (C, H·W). It has the shape C × C whatever the image
size. The style cost compares Gram matrices at five layers, `relu1_1` to `relu5_1`, so that
both fine texture and larger patterns count; again as relative errors, the layers weighed
equally.

Below: the Gram matrices at `relu1_1` of the content and of the style image, on one colour
scale — different statistics, which the optimization will make alike."""),
    ("code", """\
layer_weights = losses.normalized_weights(STYLE_LAYERS, None)   # equal weights, summing to one

def grams_of(image):
    return {name: losses.gram_matrix(value) for name, value in network(image, STYLE_LAYERS).items()}

def style_cost(image):
    return losses.style_loss(grams_of(image), style_targets, layer_weights)

with torch.no_grad():
    style_targets = grams_of(style)
    content_grams = grams_of(content)
    for name, image in [("content", content), ("style image", style), ("noise", noise)]:
        print(f"style cost of the {name:12s} {float(style_cost(image)):.3f}")
fig = plotting.show_grams({"content, relu1_1": content_grams["relu1_1"], "style, relu1_1": style_targets["relu1_1"]})"""),
    ("md", """\
## 5. The total cost

The image we generate is judged by one number: a weighted sum of the content cost, the style
cost and a small total-variation term (the mean squared difference of neighbouring pixels),
which keeps high-frequency noise out. The weights are brushwork's defaults, from its one
options object `StyleOptions`; the style weight sets how strongly the style is painted."""),
    ("code", """\
options = brushwork.StyleOptions(size=SIZE)
print(f"content weight {options.content_weight}, style weight {options.style_weight}, tv weight {options.tv_weight}")

def total_cost(image):
    terms = {"content": content_cost(image), "style": style_cost(image), "tv": losses.total_variation_loss(image)}
    terms["total"] = (options.content_weight * terms["content"] + options.style_weight * terms["style"]
                      + options.tv_weight * terms["tv"])
    return terms

with torch.no_grad():
    print({name: round(float(value), 4) for name, value in total_cost(content).items()})"""),
    ("md", """\
## 6. The optimizer and the learning rate

The network's weights never change: the *pixels* of the image are the parameters, and the
optimizer moves them downhill on the total cost. We start from the content image (starting
from noise works too, but needs more steps).

Gatys et al. used L-BFGS, which builds a picture of the cost's curvature from the last steps and
so chooses both the direction and the length of each step itself: a learning rate of 1 is right
for it. Adam is a first-order method: its learning rate is the size of each pixel update, so
too small a rate crawls and too large a rate overshoots and stays noisy. Below, one short run of
each from the same start, with the same number of steps."""),
    ("code", """\
def optimize_by_hand(make_optimizer, steps=STEPS):
    image = content.clone().requires_grad_(True)
    optimizer = make_optimizer([image])
    curve = []

    def closure():
        optimizer.zero_grad()
        cost = total_cost(image)["total"]
        cost.backward()
        return cost

    for _ in range(steps):
        curve.append(float(optimizer.step(closure).detach()))   # the cost before this step's update
    return image.detach().clamp(0, 1), curve

runs = {
    "L-BFGS, lr 1": lambda p: torch.optim.LBFGS(p, lr=1.0, max_iter=1, history_size=50),
    "Adam, lr 0.02": lambda p: torch.optim.Adam(p, lr=0.02),
    "Adam, lr 0.002": lambda p: torch.optim.Adam(p, lr=0.002),
}
by_hand = {name: optimize_by_hand(make) for name, make in runs.items()}
fig = plotting.plot_curves({name: curve for name, (_, curve) in by_hand.items()})"""),
    ("code", """\
fig = plotting.show_images([image for image, _ in by_hand.values()],
                           [f"{name}: cost {curve[-1]:.3g}" for name, (_, curve) in by_hand.items()])"""),
    ("md", """\
## 7. The optimization inside one model call

Everything above is what a `brushwork.Stylizer` does inside a single call: the model "trains
itself while being called". The `Stylizer` loads the network once (here it reuses our weights)
and keeps the style's Gram matrices cached across calls. Each call checks its options, prepares
the images, computes the targets, and optimizes — coarse to fine (Gatys et al. 2017): most steps
run at a small size, where they are cheap and the large structure of the style forms; the result
is upsampled and refined at larger sizes.

The call reports every step to a callback: `LossHistory` records the losses, `Previews` keeps an
intermediate image every few steps."""),
    ("code", """\
stylizer = brushwork.Stylizer(weights, device=DEVICE)
run_options = options.replace(epochs=1, steps_per_epoch=STEPS, preview_every=max(1, STEPS // 8))
history, previews = brushwork.LossHistory(), brushwork.Previews()
result = stylizer(CONTENT, STYLE, run_options, callback=chain(history, previews))
print(f"{len(history.steps)} steps in {result.seconds:.1f} s on {result.device} ({result.precision})")
print("levels:", ", ".join(f"{level.width}×{level.height}: {level.steps} steps" for level in result.levels))
fig = plotting.show_images([content, style, result.image], ["content", "style", "result"])"""),
    ("md", """\
The losses at each step (log scale). The style loss falls by more than an order of magnitude
while the content loss, zero at the start, rises: the two pull against each other, and the weights decide where
they meet. The dashed lines mark where a larger level begins: the image was just upsampled and
is measured at a new resolution, so the losses jump before falling again."""),
    ("code", """\
fig = plotting.plot_losses(history)"""),
    ("md", """\
The intermediate images, every few steps: the style appears first at the coarse level, and the
finer levels add detail."""),
    ("code", """\
columns = 4
cells = [(image, f"step {step} · {w}×{h}") for step, (w, h), image in zip(previews.steps, previews.sizes, previews.images)]
rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
fig = plotting.show_grid([[image for image, _ in row] for row in rows],
                         titles=[[title for _, title in row] for row in rows], cell=2.2)"""),
    ("md", """\
## 8. The content/style weight trade-off

The content weight and the style weight pull the image in two directions. Each cell below is a
run with one pair of weights (rows: content weight, columns: style weight). A higher style
weight paints more strongly; a higher content weight keeps more of the photo. Under each image,
the two distances brushwork reports as quality measures (`brushwork.metrics.score`): to the
style (lower = closer to the painting's texture) and to the content (lower = closer to the photo)."""),
    ("code", """\
grid, titles = [], []
for content_weight in CONTENT_WEIGHTS:
    grid.append([])
    titles.append([])
    for style_weight in STYLE_WEIGHTS:
        image = stylizer(CONTENT, STYLE, run_options.replace(content_weight=content_weight,
                                                             style_weight=style_weight, preview_every=0)).image
        distances = score(stylizer, image, CONTENT, STYLE)
        grid[-1].append(image)
        titles[-1].append(f"style {distances.style:.2f} · content {distances.content:.2f}")
fig = plotting.show_grid(grid, titles=titles, row_labels=[f"content weight {w:g}" for w in CONTENT_WEIGHTS],
                         col_labels=[f"style weight {w:g}" for w in STYLE_WEIGHTS])"""),
    ("md", """\
## 9. Colour preservation

Style transfer copies the painting's colours along with its brush strokes. Gatys et al. (2017)
give two ways to keep the photo's colours instead, both one option here:

* `preserve_colour="luminance"`: the transfer runs on brightness only, and the result's
  brightness is recombined with the photo's colour;
* `preserve_colour="histogram"`: the style image is first recoloured to the photo's colour
  distribution, then the transfer runs as usual.

The same run, three ways:"""),
    ("code", """\
modes = ["none", "luminance", "histogram"]
coloured = [stylizer(CONTENT, STYLE, run_options.replace(preserve_colour=mode, preview_every=0)).image for mode in modes]
fig = plotting.show_images([content, style, *coloured], ["content", "style", *[f"preserve_colour={m}" for m in modes]])"""),
    ("md", """\
## Where next

* `QuickRunModel.ipynb`: one call, your own images, the result saved to a file.
* The command line: `brushwork stylize photo.jpg painting.jpg -o out.png` (see `brushwork stylize --help`).
* Every option used here is a field of `brushwork.StyleOptions`; the README has the table."""),
]

QUICK_RUN_MODEL = [
    ("md", """\
# QuickRunModel: stylize two images in one call

Set the paths in the cell below (the defaults are the images bundled with brushwork), then
*Run → Run All Cells*. The result is shown next to its content and style images and saved to
`OUTPUT`. To see how the model works inside, open `ModelRunDefinition.ipynb`."""),
    ("params", """\
CONTENT = "../examples/chelsea.jpg"     # the photo
STYLE = "../examples/strokes.png"       # the painting
OUTPUT = "../out/quickrun.png"          # where the result is saved (.png, .jpg, .webp, ...)
SIZE = 512                              # long side of the result, in pixels
EPOCHS = 5                              # epochs x steps per epoch = optimizer steps
STEPS_PER_EPOCH = 25
DEVICE = "auto"                         # "auto", "cpu", "cuda", "cuda:1", "mps\""""),
    ("code", """\
from pathlib import Path

import brushwork
from brushwork import imaging, plotting
from brushwork.metrics import score

stylizer = brushwork.Stylizer(device=DEVICE)   # loads VGG-19 once; call it as often as you like

def report(progress):
    if progress.step % STEPS_PER_EPOCH == 0:
        print(f"epoch {progress.epoch}/{progress.epochs}  {progress.size[0]}×{progress.size[1]}  "
              f"loss {progress.losses['total']:.3g}  {progress.elapsed:.0f} s")

result = stylizer(CONTENT, STYLE, size=SIZE, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, callback=report)
print(f"done in {result.seconds:.1f} s on {result.device} ({result.precision})")"""),
    ("code", """\
fig = plotting.show_images([imaging.load_image(CONTENT).rgb, imaging.load_image(STYLE).rgb, result.image],
                           ["content", "style", "result"], height=4)"""),
    ("code", """\
output = Path(OUTPUT)
output.parent.mkdir(parents=True, exist_ok=True)
imaging.save_image(result.image, output)
distances = score(stylizer, result.image, CONTENT, STYLE)
print(f"saved {output.resolve()} ({result.image.width}×{result.image.height})")
print(f"distance to the style {distances.style:.3f}, to the content {distances.content:.3f} (lower is closer)")"""),
    ("md", """\
## The same in fast mode

`mode="fast"` swaps the optimization for one pass of a trained feed-forward network (AdaIN family):
well under a second on a CPU, any painting, but less of the painting's texture than the optimizer
finds. How it is built and trained: `docs/fast-mode.md`."""),
    ("code", """\
fast = stylizer(CONTENT, STYLE, size=SIZE, mode="fast")
fast_distances = score(stylizer, fast.image, CONTENT, STYLE)
print(f"fast mode: {fast.seconds:.2f} s on {fast.device} ({fast.precision}); distance to the style "
      f"{fast_distances.style:.3f}, to the content {fast_distances.content:.3f}")
fig = plotting.show_images([result.image, fast.image], ["optimizer", "fast mode"], height=4)"""),
]

NOTEBOOKS = {"ModelRunDefinition.ipynb": MODEL_RUN_DEFINITION, "QuickRunModel.ipynb": QUICK_RUN_MODEL}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook without outputs; the "params" cell gets papermill's "parameters" tag."""
    notebook = new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for kind, text in cells:
        if kind == "md":
            notebook.cells.append(new_markdown_cell(text))
        else:
            cell = new_code_cell(text)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            notebook.cells.append(cell)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:02d}"   # stable ids: regenerating gives the same file
    nbformat.validate(notebook)
    return notebook


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
