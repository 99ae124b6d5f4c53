"""The ``data`` section: one model per dataset (synthetic sets and the image datasets), by ``name``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from optlab.config.schema.base import MAX_EXAMPLES, MAX_UNITS, Section, _union, _val_below_size


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
class SpiralData(Section):
    """CS231n's K-class spiral in 2-D: class k's arm has angle 4(k + r) + noise at radius r."""

    name: Literal["spiral"]
    classes: int = Field(3, ge=2, le=1000, description="number of spiral arms (classes)")
    size: int = Field(300, ge=1, le=MAX_EXAMPLES, description="training examples generated (validation is held out of these)")
    test_size: int = Field(300, ge=0, le=MAX_EXAMPLES, description="test examples, drawn independently")
    noise: float = Field(0.2, ge=0, description="std of the Gaussian noise on the angle (radians)")
    val_size: int = Field(150, ge=0, description="examples held out of the training set for validation")

    _val_size = field_validator("val_size")(_val_below_size)


class BlobsData(Section):
    """Isotropic Gaussian clusters, one per class, centres drawn uniformly in a box."""

    name: Literal["blobs"]
    classes: int = Field(3, ge=2, le=1000, description="number of clusters (classes)")
    dims: int = Field(2, ge=1, le=MAX_UNITS, description="input dimension")
    size: int = Field(300, ge=1, le=MAX_EXAMPLES, description="training examples generated (validation is held out of these)")
    test_size: int = Field(300, ge=0, le=MAX_EXAMPLES, description="test examples, drawn independently")
    std: float = Field(1.0, gt=0, description="standard deviation of each cluster")
    spread: float = Field(5.0, gt=0, description="centres are drawn uniformly in [-spread, spread]^dims")
    val_size: int = Field(150, ge=0, description="examples held out of the training set for validation")

    _val_size = field_validator("val_size")(_val_below_size)


class SingleData(Section):
    """One training example (x, y): the input of Nielsen's learning-slowdown neuron (ch. 3)."""

    name: Literal["single"]
    x: float = Field(1.0, description="the input")
    y: Literal[0, 1] = Field(0, description="the target output")


class ImageData(Section):
    """Base of the real image datasets (optlab/data/images.py): where the files are, which
    examples train and validate, and how uint8 pixels become the model's inputs."""

    N_TRAIN: ClassVar[int] = 0       # images in the dataset's training file
    DEFAULT_VAL_SIZE: ClassVar[int] = 5000

    root: str | None = Field(None, description="data directory holding one folder per dataset; "
                             "$OPTLAB_DATA_DIR overrides it; default: the per-user cache (~/.cache/optlab/data)")
    train_size: int | None = Field(None, ge=1, description="training examples used (default: all not held out "
                                   "for validation)")
    subset: Literal["random", "first"] = Field(
        "random", description="`random`: training and validation examples drawn with the run's seed; `first`: "
        "the file's first `train_size` images, validation the `val_size` after them (Nielsen's split)")
    val_size: int | None = Field(None, ge=0, description="examples held out of the training file for validation "
                                 "(default 5000; 0 with val_from: test)")
    val_from: Literal["train", "test"] = Field(
        "train", description="`test` evaluates on the test set at every evaluation (Nielsen's figures), reported "
        "as 'validation (= test)'; never tune on such runs")
    preprocess: Literal["none", "scale", "standardize", "center"] = Field(
        "scale", description="`scale`: x / 255; `standardize`: (x - mean) / std per channel; `center`: x - mean "
        "image (CS231n, raw 0-255 scale); statistics from the training examples only")
    flatten: bool = Field(True, description="flatten each image to a vector (the linear and mlp models need it)")
    allow_unverified: bool = Field(False, description="use files for which no checksum is published (extracted "
                                   "CIFAR-10 batches, uncompressed Fashion-MNIST) without verification")

    @model_validator(mode="after")
    def _sizes(self) -> ImageData:
        if self.val_from == "test" and self.val_size:
            raise ValueError("with val_from: test the test set is the validation set; set val_size: 0 "
                             "(or keep val_from: train to hold out val_size training images)")
        val = self.resolved_val_size
        train = self.train_size if self.train_size is not None else self.N_TRAIN - val
        if train < 1 or train + val > self.N_TRAIN:
            raise ValueError(f"train_size + val_size = {train} + {val} must be at most the {self.N_TRAIN} "
                             f"images of the training file, leaving at least one for training")
        return self

    @property
    def resolved_val_size(self) -> int:
        if self.val_size is not None:
            return self.val_size
        return 0 if self.val_from == "test" else self.DEFAULT_VAL_SIZE


class MNISTData(ImageData):
    """MNIST handwritten digits, 28x28 grayscale, 60 000 train / 10 000 test (IDX files)."""

    N_TRAIN: ClassVar[int] = 60_000
    name: Literal["mnist"]


class FashionMNISTData(ImageData):
    """Fashion-MNIST (Zalando article images), 28x28 grayscale, 60 000 train / 10 000 test (IDX files)."""

    N_TRAIN: ClassVar[int] = 60_000
    name: Literal["fashion_mnist"]


class CIFAR10Data(ImageData):
    """CIFAR-10 tiny images, 32x32 colour, 50 000 train / 10 000 test (binary or python version)."""

    N_TRAIN: ClassVar[int] = 50_000
    name: Literal["cifar10"]


DataConfig = _union(SpiralData, BlobsData, SingleData, MNISTData, FashionMNISTData, CIFAR10Data)
