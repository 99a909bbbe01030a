"""Training the fast model's decoder (AdaIN recipe, adapted to a CPU budget), by concern:

- `config`: `TrainConfig` (stored in every checkpoint), the loss layers, tensor layout helpers;
- `data`: image lists, random crops and augmentations, the cached style targets, style picks;
- `objectives`: the losses (AdaIN's, Gatys' Gram loss, identity), the validation loss;
- `checkpoints`: saving, resuming and exporting a run, its loss log.

The loop (`train`) and the entry points the CLI calls live in `brushwork.fast.train`, which also
re-exports the public names of these modules.
"""
