"""Preprocessing of uint8 images into model inputs, batch by batch, with training statistics only.

Images stay uint8 in memory (n, channels, height, width); :class:`ImageTransform` turns one
mini-batch at a time into floats of the run's dtype (``train.dtype``), so full CIFAR-10 costs
its 150 MB of bytes and not 600 MB (float32) or 1.2 GB (float64) of floats.

Kinds (``data.preprocess``):

- ``none``: the raw pixel values 0..255 as floats;
- ``scale``: x / 255, in [0, 1] (torchvision's ``ToTensor``, Keras examples, DLFS ``normalize``);
- ``standardize``: (x - mean_c) / std_c with one mean and standard deviation per channel over all
  training pixels (torchvision's ``Normalize`` convention; MNIST gives 33.3 and 78.6 on the
  0..255 scale, i.e. the familiar 0.1307 and 0.3081 after scaling);
- ``center``: x - mean image, per pixel and channel, on the raw 0..255 scale (CS231n's linear
  classifiers subtract the training mean image from raw pixels).

Statistics come from the training examples only (never validation or test), as float64 sums
over chunks of rows (exact for uint8 data), so no float copy of the training set is ever made.
"""

from __future__ import annotations

import numpy as np

CHUNK = 4096   # rows per step when computing statistics: bounds the temporaries to a few MB

KINDS = ("none", "scale", "standardize", "center")


def mean_image(x: np.ndarray) -> np.ndarray:
    """Mean over the first axis of uint8 images (n, ...) -> float64 (...)."""
    total = np.zeros(x.shape[1:], dtype=np.float64)
    for start in range(0, len(x), CHUNK):
        total += x[start:start + CHUNK].sum(axis=0, dtype=np.float64)
    return total / max(len(x), 1)


def channel_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (ddof 0) of uint8 images (n, C, H, W).

    From per-pixel sums of x and x^2 (exact: integers below 2^53 in float64), chunked.
    """
    total = np.zeros(x.shape[1:], dtype=np.float64)
    squares = np.zeros(x.shape[1:], dtype=np.float64)
    for start in range(0, len(x), CHUNK):
        chunk = x[start:start + CHUNK]
        total += chunk.sum(axis=0, dtype=np.float64)
        squares += np.square(chunk, dtype=np.uint16).sum(axis=0, dtype=np.float64)   # 255^2 fits uint16
    axes = tuple(range(1, x.ndim - 1))                    # all but the channel axis of one image
    count = len(x) * int(np.prod(x.shape[2:]))
    mean = total.sum(axis=axes) / count
    var = np.maximum(squares.sum(axis=axes) / count - mean ** 2, 0.0)
    return mean, np.sqrt(var)


class ImageTransform:
    """Stored rows (batch, C, H, W) uint8 -> model inputs: ``(x - shift) * scale``, flattened or not.

    ``shift`` and ``scale`` are float64 arrays broadcastable to one image (or None); they are cast
    to each dtype once and reused for every batch.
    """

    def __init__(self, kind: str, shift: np.ndarray | None, scale: np.ndarray | None, flatten: bool) -> None:
        self.kind, self.shift, self.scale, self.flatten = kind, shift, scale, flatten
        self._cast: dict[np.dtype, tuple] = {}

    def __call__(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype not in self._cast:
            self._cast[dtype] = tuple(None if a is None else a.astype(dtype) for a in (self.shift, self.scale))
        shift, scale = self._cast[dtype]
        out = x.astype(dtype)                 # the one float copy of the batch
        if shift is not None:
            out -= shift
        if scale is not None:
            out *= scale
        return out.reshape(len(out), -1) if self.flatten else out

    def __repr__(self) -> str:
        return f"ImageTransform({self.kind!r}, flatten={self.flatten})"


def fit(kind: str, x_train: np.ndarray, flatten: bool) -> ImageTransform:
    """The transform ``kind`` with its statistics computed from the training images ``x_train``."""
    if kind == "none":
        return ImageTransform(kind, None, None, flatten)
    if kind == "scale":
        return ImageTransform(kind, None, np.asarray(1.0 / 255.0), flatten)
    if kind == "center":
        return ImageTransform(kind, mean_image(x_train), None, flatten)
    if kind == "standardize":
        mean, std = channel_moments(x_train)
        std = np.where(std > 0, std, 1.0)     # a constant channel: shift only
        per_channel = (-1,) + (1,) * (x_train.ndim - 2)
        return ImageTransform(kind, mean.reshape(per_channel), (1.0 / std).reshape(per_channel), flatten)
    raise ValueError(f"unknown preprocess {kind!r}; known: {', '.join(KINDS)}")
