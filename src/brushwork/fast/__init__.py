"""Fast mode: a trained feed-forward network (AdaIN family) beside the optimizer.

network.py (the style and transfer networks; adain.py and decoder.py their parts), model.py
(FastStylizer, used by Stylizer for mode="fast"), train.py (`brushwork train-fast`), export.py (ONNX / LiteRT / Core ML),
phone_app.py + phone/ (the on-device web page), cli.py (the commands). Nothing here is imported
until fast mode is asked for.
"""
