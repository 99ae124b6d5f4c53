"""The config schema: every key a config file may hold, its type, default and allowed values.

Each section that names a component (``data``, ``model``, ``loss``, ``optimizer``) is a union of
one pydantic model per component, told apart by ``name``; ``loss: hinge`` is shorthand for
``loss: {name: hinge}``. Unknown keys are refused everywhere (``extra="forbid"``).
``docs/config.md`` is generated from these models (``python -m optlab.docs``) and a test checks
that it is up to date, so the reference and the schema cannot drift.

Pure pydantic, no numpy: the CLI imports it only inside commands.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from optlab.hyper import DEFAULTS, DESCRIPTIONS, RANGES


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are re-validated on set.

    ``allow_inf_nan=False``: YAML reads ``1e999`` as inf and ``.nan`` as NaN; no setting means
    anything with them (``gt=0`` alone would let ``lr: 1e999`` through to fail mid-run).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# Upper bounds on sizes, so that a typo such as `size: 60000000000` is a config error with a line
# number instead of a MemoryError (or the OOM killer) once the arrays are allocated.
MAX_EXAMPLES = 10_000_000
MAX_UNITS = 100_000


def _val_below_size(value: int, info: ValidationInfo) -> int:
    """Validation is held out of the training draw, so it must leave some training examples."""
    size = info.data.get("size")
    if size is not None and value >= size:
        raise ValueError(f"val_size ({value}) must be smaller than size ({size}): "
                         "validation examples are held out of the training set")
    return value


def _name_shorthand(value: Any) -> Any:
    """``loss: hinge`` -> ``{name: hinge}``, so both spellings validate the same way."""
    return {"name": value} if isinstance(value, str) else value


def _union(*members: type[BaseModel]) -> Any:
    return Annotated[Union[members], Field(discriminator="name"), BeforeValidator(_name_shorthand)]


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


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
class InitConfig(Section):
    """Initial weights: zeros, normal(std), xavier (Glorot) or he (conventions.md)."""

    name: Literal["zeros", "normal", "xavier", "he"] = "he"
    std: float = Field(0.01, gt=0, description="std of `normal` (ignored by the others)")
    bias_std: float = Field(0.0, ge=0, description="biases ~ N(0, bias_std^2); 0 gives zero biases")


Activation = Literal["relu", "sigmoid", "tanh"]
OutputActivation = Literal["none", "sigmoid"]


class LinearModel(Section):
    """A linear classifier on flattened inputs: scores = x W + b."""

    name: Literal["linear"]
    init: Annotated[InitConfig, BeforeValidator(_name_shorthand)] = InitConfig(name="normal")
    output: OutputActivation = Field("none", description="activation on the scores")
    bias: Literal["separate", "trick"] = Field(
        "separate", description="`separate`: x W + b; `trick`: one matrix W with the bias as its last row, "
                                "scores = [x, 1] W (CS231n's bias trick; the bias row is then penalised with W)")


def _on_off(value: Any) -> Any:
    """``batch_norm: true`` -> the section with its defaults; ``false`` -> off (null)."""
    if value is True:
        return {}
    return None if value is False else value


class BatchNormConfig(Section):
    """Batch normalisation after each hidden Linear layer (Ioffe & Szegedy 2015; DLFS ch. 6)."""

    momentum: float = Field(0.9, ge=0, lt=1, description="running statistics for evaluation: "
                            "r = momentum * r + (1 - momentum) * (batch mean or variance)")
    eps: float = Field(1e-5, gt=0, description="added to the variance under the square root")


class MLPModel(Section):
    """A fully connected network: (Linear -> [BatchNorm] -> activation -> [Dropout]) per hidden size,
    then Linear -> output."""

    name: Literal["mlp"]
    hidden: list[Annotated[int, Field(ge=1, le=MAX_UNITS)]] = Field([100], description="hidden layer sizes")
    activation: Activation = Field("relu", description="hidden-layer activation")
    init: Annotated[InitConfig, BeforeValidator(_name_shorthand)] = InitConfig()
    output: OutputActivation = Field("none", description="output activation (`sigmoid` for Nielsen's networks)")
    batch_norm: Annotated[BatchNormConfig | None, BeforeValidator(_on_off)] = Field(
        None, description="batch norm before each hidden activation: a section, `true` for its defaults, null: none")
    drop_prob: float = Field(0.0, ge=0, lt=1, description="inverted dropout after each hidden activation: the "
                             "probability of dropping a unit in training (0: no dropout)")


class NeuronModel(Section):
    """One sigmoid neuron a = sigmoid(w x + b), Nielsen ch. 3."""

    name: Literal["neuron"]
    w: float = Field(0.6, description="initial weight")
    b: float = Field(0.9, description="initial bias")


class SurfaceModel(Section):
    """A 2-D test function descended directly from ``start`` (optlab.objectives): no data, no loss."""

    name: Literal["surface"]
    function: Literal["bowl", "rosenbrock", "beale", "saddle"] = Field(description="the function f(x, y)")
    start: tuple[float, float] = Field(description="starting point [x, y], e.g. DLFS's [-7, 2] on the bowl")


ModelConfig = _union(LinearModel, MLPModel, NeuronModel, SurfaceModel)


# --------------------------------------------------------------------------------------------
# loss and regularisation
# --------------------------------------------------------------------------------------------
class HingeLoss(Section):
    """Weston-Watkins multiclass SVM loss, mean over the batch (conventions.md)."""

    name: Literal["hinge"]
    margin: float = Field(1.0, gt=0, description="the margin Delta")


class CrossEntropyLoss(Section):
    """Softmax cross-entropy from logits (log-sum-exp), mean over the batch."""

    name: Literal["cross_entropy"]


class QuadraticLoss(Section):
    """0.5 * ||a - y||^2 on the model's output, one-hot targets, mean over the batch."""

    name: Literal["quadratic"]


class BinaryCrossEntropyLoss(Section):
    """Nielsen's cross-entropy cost on sigmoid outputs, summed over units, mean over the batch."""

    name: Literal["binary_cross_entropy"]


LossConfig = _union(HingeLoss, CrossEntropyLoss, QuadraticLoss, BinaryCrossEntropyLoss)


class RegularizationConfig(Section):
    """Penalties on weight matrices (not biases); both non-zero is the elastic net."""

    l2: float = Field(0.0, ge=0, description="0.5 * l2 * sum(W^2), gradient l2 * W")
    l1: float = Field(0.0, ge=0, description="l1 * sum(|W|), subgradient l1 * sign(W)")


# --------------------------------------------------------------------------------------------
# learning-rate schedules (optlab.schedules): optimizer.schedule
# --------------------------------------------------------------------------------------------
class _Schedule(Section):
    name: str   # each schedule narrows it to its own Literal; declared here so it comes first
    warmup: int = Field(0, ge=0, description="steps of linear warmup, lr * s / warmup at step s, before the "
                        "schedule starts (Goyal et al. 2017); 0: none")


Unit = Literal["steps", "epochs"]


class ConstantSchedule(_Schedule):
    """lr at every step."""

    name: Literal["constant"]


class StepSchedule(_Schedule):
    """lr * factor ** floor(t / every): multiplied by `factor` every `every` steps or epochs."""

    name: Literal["step"]
    every: int = Field(ge=1, description="steps or epochs (see `unit`) between reductions")
    factor: float = Field(0.1, gt=0, lt=1, description="multiplies the rate at each reduction")
    unit: Unit = Field("steps", description="what t and `every` count")


class ExponentialSchedule(_Schedule):
    """lr * exp(-k t) (CS231n, "annealing the learning rate")."""

    name: Literal["exponential"]
    k: float = Field(gt=0, description="decay rate per unit of t")
    unit: Unit = Field("steps", description="what t counts")


class InverseTimeSchedule(_Schedule):
    """lr / (1 + k t) (CS231n's 1/t decay)."""

    name: Literal["inverse_time"]
    k: float = Field(gt=0, description="decay rate per unit of t")
    unit: Unit = Field("steps", description="what t counts")


class CosineSchedule(_Schedule):
    """lr_min + (lr - lr_min) (1 + cos(pi t / T)) / 2, lr_min = lr * min_factor (Loshchilov & Hutter 2017)."""

    name: Literal["cosine"]
    min_factor: float = Field(0.0, ge=0, lt=1, description="the rate at the end, as a fraction of lr")
    period: int | None = Field(None, ge=1, description="T in steps; null: the run's length after warmup")


class PlateauSchedule(_Schedule):
    """Nielsen's rule (ch. 3): lr * factor each time validation has not improved for `patience` evaluations."""

    name: Literal["plateau"]
    metric: Literal["val_acc", "val_loss"] = Field("val_acc", description="the validation number watched")
    patience: int = Field(10, ge=1, description="evaluations without a new best before the rate is reduced")
    factor: float = Field(0.5, gt=0, lt=1, description="multiplies the rate at each reduction (Nielsen: halve)")
    min_factor: float = Field(1 / 128, gt=0, le=1, description="the rate never goes below lr * min_factor "
                              "(Nielsen stops at 1/128 of the initial rate)")


ScheduleConfig = _union(ConstantSchedule, StepSchedule, ExponentialSchedule, InverseTimeSchedule,
                        CosineSchedule, PlateauSchedule)
_SCHEDULE = Field(ConstantSchedule(name="constant"), description="learning-rate schedule, set by the training "
                  "loop (see `optimizer.schedule`); `schedule: cosine` is one with its defaults")


# --------------------------------------------------------------------------------------------
# optimizer: ranges and defaults come from optlab.hyper, the table the optimizers check against;
# schedule is applied by the training loop, not by the optimizer (it sets the optimizer's lr)
# --------------------------------------------------------------------------------------------
def _hyper(optimizer: str, key: str) -> Any:
    r = RANGES[key]
    bounds = {"gt" if r.low_open else "ge": r.low}
    if r.high != float("inf"):
        bounds["lt" if r.high_open else "le"] = r.high
    return Field(DEFAULTS[optimizer][key], description=DESCRIPTIONS[key], **bounds)


class SGDConfig(Section):
    """W -= lr * g"""

    name: Literal["sgd"]
    lr: float = _hyper("sgd", "lr")
    weight_decay: float = _hyper("sgd", "weight_decay")
    clip_norm: float | None = _hyper("sgd", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class MomentumConfig(Section):
    """v = momentum * v - lr * g; W += v"""

    name: Literal["momentum"]
    lr: float = _hyper("momentum", "lr")
    momentum: float = _hyper("momentum", "momentum")
    weight_decay: float = _hyper("momentum", "weight_decay")
    clip_norm: float | None = _hyper("momentum", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class NesterovConfig(Section):
    """Bengio et al. 2012 / CS231n form of Nesterov momentum."""

    name: Literal["nesterov"]
    lr: float = _hyper("nesterov", "lr")
    momentum: float = _hyper("nesterov", "momentum")
    weight_decay: float = _hyper("nesterov", "weight_decay")
    clip_norm: float | None = _hyper("nesterov", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class AdaGradConfig(Section):
    """h += g^2; W -= lr * g / (sqrt(h) + eps)"""

    name: Literal["adagrad"]
    lr: float = _hyper("adagrad", "lr")
    eps: float = _hyper("adagrad", "eps")
    weight_decay: float = _hyper("adagrad", "weight_decay")
    clip_norm: float | None = _hyper("adagrad", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class RMSpropConfig(Section):
    """h = decay * h + (1 - decay) * g^2; W -= lr * g / (sqrt(h) + eps)"""

    name: Literal["rmsprop"]
    lr: float = _hyper("rmsprop", "lr")
    decay: float = _hyper("rmsprop", "decay")
    eps: float = _hyper("rmsprop", "eps")
    weight_decay: float = _hyper("rmsprop", "weight_decay")
    clip_norm: float | None = _hyper("rmsprop", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


class AdamConfig(Section):
    """Kingma & Ba, Algorithm 1."""

    name: Literal["adam"]
    lr: float = _hyper("adam", "lr")
    beta1: float = _hyper("adam", "beta1")
    beta2: float = _hyper("adam", "beta2")
    eps: float = _hyper("adam", "eps")
    weight_decay: float = _hyper("adam", "weight_decay")
    clip_norm: float | None = _hyper("adam", "clip_norm")
    schedule: ScheduleConfig = _SCHEDULE


OptimizerConfig = _union(SGDConfig, MomentumConfig, NesterovConfig, AdaGradConfig, RMSpropConfig, AdamConfig)


# --------------------------------------------------------------------------------------------
# search strategy and training loop
# --------------------------------------------------------------------------------------------
class SearchConfig(Section):
    """How the weights are searched for (docs/search.md). Each strategy reads its own keys and
    ignores the others', so one config can be compared across strategies
    (`optlab compare --vary search.strategy=random,local,gradient`)."""

    strategy: Literal["gradient", "random", "local"] = Field(
        "gradient", description="`gradient`: the optimizer follows the gradient for train.epochs / "
                                "train.iterations steps; `random`: the best of `trials` random weight draws; "
                                "`local`: random local search, a proposal is kept only if the loss goes down")
    trials: int = Field(1000, ge=1, le=100_000_000, description="random / local: candidate weights tried "
                                                                "(local also evaluates its start)")
    scale: float = Field(1e-4, gt=0, allow_inf_nan=False,
                         description="random: every parameter of a draw is scale * N(0, 1) (CS231n: 1e-4)")
    init_scale: float = Field(1e-3, gt=0, allow_inf_nan=False,
                              description="local: the start is init_scale * N(0, 1) (CS231n: 1e-3)")
    step: float = Field(1e-4, gt=0, allow_inf_nan=False,
                        description="local: a proposal is incumbent + step * N(0, 1) (CS231n: 1e-4)")
    batch_size: int | None = Field(
        None, ge=1, description="random / local: the loss is over a fresh mini-batch of this size per trial, with "
                                "the incumbent re-evaluated on it (2 evaluations per trial); null: the whole "
                                "training set, as CS231n")
    gradient: Literal["analytic", "numerical"] = Field(
        "analytic", description="gradient: backpropagation, or centred differences (2 loss evaluations per "
                                "parameter per step; needs train.dtype: float64)")


class EarlyStoppingConfig(Section):
    """Stop when validation has not improved for `patience` evaluations; the best weights are restored."""

    metric: Literal["val_acc", "val_loss"] = Field("val_acc", description="the validation number watched")
    patience: int = Field(10, ge=1, description="evaluations without a new best before training stops")
    min_delta: float = Field(0.0, ge=0, description="a new best must beat the old one by more than this")


class TrainConfig(Section):
    """The training loop: mini-batches, length, evaluation, precision."""

    batch_size: int = Field(100, ge=1, description="examples per mini-batch (capped at the training-set size)")
    epochs: float | None = Field(None, gt=0, description="passes over the training set (give this or `iterations`; "
                                                         "the gradient strategy needs one)")
    iterations: int | None = Field(None, ge=1, description="optimizer steps (give this or `epochs`)")
    eval_every: int | None = Field(None, ge=1, description="steps (random / local: trials) between evaluations "
                                                           "(default: once per epoch; random / local: 50 in a run)")
    eval_train_size: int = Field(10000, ge=1, description="training examples (a fixed random subset) used for train accuracy")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point precision of the run")
    sampling: Literal["shuffle", "replacement"] = Field(
        "shuffle", description="mini-batches without replacement, reshuffled each epoch, or drawn with replacement"
    )
    divergence_factor: float | None = Field(
        1000.0, gt=1, description="stop as diverged when the mini-batch loss exceeds this multiple of the initial "
        "training loss (NaN or inf always stops the run); null: only NaN or inf")
    checkpoint_every: int | None = Field(
        None, ge=1, description="steps between checkpoints (checkpoint.npz, for --resume); one is also written at "
        "the end and on Ctrl-C / SIGTERM. null: only then")
    early_stopping: Annotated[EarlyStoppingConfig | None, BeforeValidator(_on_off)] = Field(
        None, description="stop on validation and restore the best weights: a section, `true` for its defaults, "
        "null: train to the end")

    @model_validator(mode="after")
    def _one_length(self) -> TrainConfig:
        # A missing length is checked by Config: random and local search take theirs from search.trials.
        if self.epochs is not None and self.iterations is not None:
            raise ValueError("give train.epochs or train.iterations, not both")
        return self


class DiagnosticsConfig(Section):
    """What is recorded besides the metrics (optlab.diagnostics), each plotted in the run directory."""

    update_ratios: bool = Field(True, description="norm of each weight matrix's update over its norm "
                                "(CS231n: about 1e-3 is healthy), in diagnostics.csv")
    every: int | None = Field(None, ge=1, description="steps between update-ratio records; null: at every evaluation")
    histograms: list[Annotated[int, Field(ge=0)]] = Field(
        [0], description="steps at which each hidden layer's activations are histogrammed (0: at initialisation)")
    histogram_examples: int = Field(1000, ge=1, description="training examples forwarded (evaluation mode) "
                                    "for the histograms")


class CompareConfig(Section):
    """What `optlab compare` uses: the optimizers to compare when none is named, with their settings."""

    optimizers: list[OptimizerConfig] = Field(
        [], description="each optimizer's hyper-parameters in a comparison (e.g. the bowl's rates); "
                        "compared by default when the command line names none")

    @model_validator(mode="after")
    def _distinct(self) -> CompareConfig:
        names = [o.name for o in self.optimizers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each optimizer may appear once; given more than once: {', '.join(twice)}")
        return self


def _section_name(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


class Config(Section):
    """A whole experiment."""

    name: str = Field("run", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="run name, used in the run directory's name")
    seed: int = Field(0, ge=0, description="root seed: every random stream of the run derives from it")
    # Required, but null (and absent) for a surface model, which is its own objective.
    data: DataConfig | None
    model: ModelConfig
    loss: LossConfig | None
    regularization: RegularizationConfig = RegularizationConfig()
    optimizer: OptimizerConfig = SGDConfig(name="sgd")
    search: SearchConfig = SearchConfig()
    train: TrainConfig
    diagnostics: DiagnosticsConfig = DiagnosticsConfig()
    compare: CompareConfig = CompareConfig()

    @model_validator(mode="before")
    @classmethod
    def _surface_needs_no_data(cls, raw: Any) -> Any:
        """A surface config leaves out data and loss; every other config is told they are missing."""
        if isinstance(raw, dict) and _section_name(raw.get("model")) == "surface":
            return {"data": None, "loss": None, **raw}
        return raw

    @model_validator(mode="after")
    def _surface_or_data(self) -> Config:
        """A surface is its own objective (no data, no loss, a step count); anything else needs both."""
        if self.model.name == "surface":
            problems = []
            given = [key for key in ("data", "loss") if getattr(self, key) is not None]
            if given:
                problems.append(f"a surface model is its own objective: remove {' and '.join(given)}")
            if self.train.iterations is None:
                problems.append("a surface has no epochs (there is no data): give train.iterations")
            if self.train.early_stopping is not None or self.optimizer.schedule.name == "plateau":
                problems.append("a surface has no validation set for train.early_stopping or a plateau schedule "
                                "to watch")
            if problems:
                raise ValueError("; ".join(problems))
            return self
        for key in ("data", "loss"):
            if getattr(self, key) is None:
                raise ValueError(f"model {self.model.name} learns from data: {key} cannot be null")
        return self

    # A field validator on `search` (validated after `model`), so an error points at the search line.
    @field_validator("search")
    @classmethod
    def _techniques_need_backprop(cls, search: SearchConfig, info: ValidationInfo) -> SearchConfig:
        """Dropout draws a mask and batch norm updates its running statistics at every forward pass in
        training mode: one per step with backpropagation, but one per candidate in a random or local
        search and 1 + 2n per step with numerical gradients, which changes what they mean."""
        model = info.data.get("model")
        on = [k for k, v in (("model.drop_prob", getattr(model, "drop_prob", 0) > 0),
                             ("model.batch_norm", getattr(model, "batch_norm", None) is not None)) if v]
        if on and (search.strategy, search.gradient) != ("gradient", "analytic"):
            what = f"search.strategy {search.strategy}" if search.strategy != "gradient" else "search.gradient numerical"
            raise ValueError(f"{' and '.join(on)} act at every forward pass in training mode, which {what} makes "
                             "many per step; use them with search.strategy gradient and analytic gradients")
        return search

    # A field validator on `train` (validated after `search`), so an error points at the train line.
    @field_validator("train")
    @classmethod
    def _train_fits_search(cls, train: TrainConfig, info: ValidationInfo) -> TrainConfig:
        search, model = info.data.get("search"), info.data.get("model")
        if search is None:
            return train
        if model is not None and model.name == "surface" and (search.strategy, search.gradient) != ("gradient", "analytic"):
            raise ValueError("a surface is descended along its own analytic gradient; search.strategy "
                             f"{search.strategy} / search.gradient {search.gradient} need a model with data")
        if search.strategy != "gradient":
            return train
        if train.epochs is None and train.iterations is None:
            raise ValueError("give the run's length as train.epochs or train.iterations")
        if search.gradient == "numerical" and train.dtype != "float64":
            raise ValueError("search.gradient: numerical needs train.dtype: float64 (centred differences in "
                             "float32 are swamped by rounding; conventions.md, numerical gradient)")
        return train

    # A field validator on `loss` (not a model validator) so the error points at the loss line
    # and key path; `data` and `model` are validated before `loss`, so they are in info.data.
    @field_validator("loss")
    @classmethod
    def _compatible(cls, loss: Any, info: ValidationInfo) -> Any:
        model = info.data.get("model")
        if model is None or loss is None or model.name == "surface":
            return loss
        if model.name == "neuron" and loss.name in ("hinge", "cross_entropy"):
            raise ValueError(f"the neuron has one output; loss {loss.name} needs one score per class "
                             "(use quadratic or binary_cross_entropy)")
        if loss.name == "binary_cross_entropy" and model.name != "neuron" and model.output != "sigmoid":
            raise ValueError("binary_cross_entropy needs outputs in (0, 1): set model.output: sigmoid")
        data = info.data.get("data")
        if data is not None and not getattr(data, "flatten", True):
            raise ValueError(f"model {model.name} takes flat vectors; set data.flatten: true")
        return loss


# Registries of the union members by section, used to resolve error locations and for the docs.
UNIONS: dict[str, dict[str, type[BaseModel]]] = {
    "data": {"spiral": SpiralData, "blobs": BlobsData, "single": SingleData,
             "mnist": MNISTData, "fashion_mnist": FashionMNISTData, "cifar10": CIFAR10Data},
    "model": {"linear": LinearModel, "mlp": MLPModel, "neuron": NeuronModel, "surface": SurfaceModel},
    "loss": {"hinge": HingeLoss, "cross_entropy": CrossEntropyLoss, "quadratic": QuadraticLoss,
             "binary_cross_entropy": BinaryCrossEntropyLoss},
    "optimizer": {"sgd": SGDConfig, "momentum": MomentumConfig, "nesterov": NesterovConfig,
                  "adagrad": AdaGradConfig, "rmsprop": RMSpropConfig, "adam": AdamConfig},
}
