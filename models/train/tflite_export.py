"""Folded weights (npz) → TFLite float and int8 models, rebuilt layer for layer in Keras.

Runs under a Python with TensorFlow (the pipeline calls it with --tf-python; TensorFlow is
never needed on the box, which runs the result with ai-edge-litert). Usage:
    python tflite_export.py WEIGHTS.npz CALIBRATION.npy OUT_FLOAT.tflite OUT_INT8.tflite WINDOW
"""

from __future__ import annotations

import sys

import numpy as np

KERNEL = 5
DILATIONS = (1, 2, 3, 1, 2)  # must match models/train/net.py (checked by the pipeline's parity test)


def build(weights: dict, window: int):
    import keras
    from keras import layers

    feats = keras.Input((window, 40), batch_size=1, name="features")
    x = layers.Conv1D(weights["inp.kernel"].shape[2], KERNEL, activation="relu", name="inp")(feats)
    for i, d in enumerate(DILATIONS):
        y = layers.DepthwiseConv1D(KERNEL, dilation_rate=d, activation="relu", name=f"b{i}_dw")(x)
        y = layers.Conv1D(weights[f"b{i}.pw.kernel"].shape[2], 1, activation="relu", name=f"b{i}_pw")(y)
        crop = (KERNEL - 1) * d // 2
        x = layers.Add()([y, layers.Cropping1D((crop, crop))(x)])
    x = layers.Conv1D(weights["out.kernel"].shape[2], 1, name="out")(x)
    model = keras.Model(feats, layers.Activation("log_softmax", name="log_probs")(x))
    model.get_layer("inp").set_weights([weights["inp.kernel"], weights["inp.bias"]])
    for i, _ in enumerate(DILATIONS):
        model.get_layer(f"b{i}_dw").set_weights([weights[f"b{i}.dw.kernel"], weights[f"b{i}.dw.bias"]])
        model.get_layer(f"b{i}_pw").set_weights([weights[f"b{i}.pw.kernel"], weights[f"b{i}.pw.bias"]])
    model.get_layer("out").set_weights([weights["out.kernel"], weights["out.bias"]])
    return model


def main(argv: list[str]) -> int:
    import tensorflow as tf

    weights_path, calib_path, out_float, out_int8, window = argv
    weights = dict(np.load(weights_path))
    calib = np.load(calib_path).astype(np.float32)
    model = build(weights, int(window))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    open(out_float, "wb").write(conv.convert())

    def representative():
        for w in calib:
            yield [w[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    # int8 inside, float at the edges: the runtime interface stays the same for every file
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    open(out_int8, "wb").write(conv.convert())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
