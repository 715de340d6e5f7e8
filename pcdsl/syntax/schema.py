"""What the language accepts: model settings, the kinds each one takes, their options.

One table drives the semantic check and the defaults (and is mirrored by
docs/language.md), so a new region graph or layer kind is added here (and lowered in
``pcdsl.ir``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ValueType = Literal["int", "float", "string", "kind", "name"]  # name: one of `choices`


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class Option:
    """One argument of a kind, e.g. ``units`` of ``categorical``."""

    name: str
    type: ValueType
    default: object
    doc: str
    minimum: float | None = None
    minimum_exclusive: bool = False
    choices: tuple[int | float | str, ...] | None = None
    maximum: float | None = None
    category: str | None = None  # for type "kind": which category of kind it takes

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Kind:
    """A named constructor of a category, e.g. region graph ``quad_graph``."""

    name: str
    category: str
    options: tuple[Option, ...]
    doc: str

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@dataclass(frozen=True)
class SettingSchema:
    """A model-level ``key = value`` line."""

    key: str
    type: ValueType
    category: str | None
    default: object  # REQUIRED, a literal, or the source text of a default kind value
    doc: str
    minimum: float | None = None
    choices: tuple[str, ...] | None = None  # for type "name"
    maximum: float | None = None


# Human names of the categories, used in messages ("expected a region graph").
CATEGORY_NAMES = {
    "data": "data modality",
    "region_graph": "region graph",
    "input": "input layer",
    "sum_product": "sum-product layer",
    "parameterization": "parameterisation",
    "initializer": "initialiser",
}

_UNITS = Option("units", "int", 64, "number of units (vectorised nodes) per layer", minimum=1)


def _init() -> Option:
    return Option("init", "kind", "normal", "initialiser of the free parameters",
                  category="initializer")


def _parameters(name: str, doc: str) -> Option:
    """An input layer's parameter, given as a parameterisation (default: see the kind)."""
    return Option(name, "kind", None, doc, category="parameterization")


# Activations that keep a value non-negative (all but 'none').
NON_NEGATIVE = ("softmax", "sigmoid", "softplus", "positive_clamp")

KINDS: tuple[Kind, ...] = (
    Kind("image", "data", (
        Option("channels", "int", 1, "number of channels C", minimum=1),
        Option("height", "int", REQUIRED, "image height H in pixels", minimum=1),
        Option("width", "int", REQUIRED, "image width W in pixels", minimum=1),
        Option("values", "int", 256, "number of values a discrete pixel channel takes "
               "(0 .. values-1)", minimum=2),
        Option("domain", "name", "discrete", "discrete (integer values 0 .. values-1) or real "
               "(floating-point values, for gaussian inputs)", choices=("discrete", "real")),
    ), "Images of C x H x W pixel channels; one variable per pixel channel, "
       "flattened in channel, row, column order."),
    Kind("variables", "data", (
        Option("count", "int", REQUIRED, "number of variables", minimum=1),
        Option("values", "int", REQUIRED, "number of values each variable takes", minimum=2),
    ), "A flat vector of discrete variables x[0] .. x[count-1], for hand-written structure."),
    Kind("quad_graph", "region_graph", (),
         "Quad-graph (Mari et al., 2023): 2x2 patches merged level by level, each merge split "
         "both horizontally-first and vertically-first; smooth and decomposable, not "
         "structured-decomposable. cirkit's 'quad-graph'."),
    Kind("quad_tree", "region_graph", (
        Option("splits", "int", 2, "parts per merge: 2 (two binary splits) or 4 (one 4-way)",
               choices=(2, 4)),
    ), "Quad-tree (Mari et al., 2023): like quad_graph but with a single split per merge, "
       "hence structured-decomposable. cirkit's 'quad-tree-2' and 'quad-tree-4'."),
    Kind("random_binary_tree", "region_graph", (
        Option("depth", "int", None, "levels of binary splits (default: down to single "
               "variables, ceil(log2 D))", minimum=0),
        Option("repetitions", "int", 1, "independent random trees, mixed at the root",
               minimum=1),
        Option("seed", "int", 42, "seed of the random splits (numpy RandomState, as cirkit)",
               minimum=0, maximum=2**32 - 1),
    ), "Random binary trees over the flattened variables (Peharz et al., 2020): each region "
       "is shuffled and halved. cirkit's 'random-binary-tree', the same trees for a seed."),
    Kind("linear_tree", "region_graph", (
        Option("repetitions", "int", 1, "chains mixed at the root", minimum=1),
    ), "The linear chain over the flattened variables in their natural order (the HMM "
       "region graph): region i splits into x[i] and the rest. cirkit's 'linear-tree'."),
    Kind("poon_domingos", "region_graph", (
        Option("delta", "int", None, "split step in pixels along each axis (default: "
               "max(ceil(H/8), ceil(W/8)), as cirkit's image_data)", minimum=1),
        Option("max_depth", "int", None, "splits from the image beyond which rectangles "
               "are left whole (default: no limit)", minimum=0),
    ), "Poon-Domingos (2011): every axis-aligned rectangle split at every multiple of delta "
       "inside it, rectangles shared across splits (a DAG); leaves are delta x delta "
       "patches over all channels. cirkit's 'poon-domingos'."),
    Kind("chow_liu_tree", "region_graph", (
        Option("file", "string", REQUIRED, "the learned tree: a JSON file written by 'pcc learn "
               "chow-liu', relative to the spec's folder"),
    ), "The hidden Chow-Liu tree (HCLT): a tree over the flattened variables learned from "
       "data (maximum mutual information), read from a file so that compiling stays "
       "deterministic and offline; each variable with children is a region split into its "
       "own leaf and its children's regions. cirkit's 'chow-liu-tree'."),
    Kind("categorical", "input", (
        _UNITS,
        _parameters("probs", "parameterisation of the probabilities (K x values): default "
                    "softmax, with the initialiser of 'weights'"),
        _parameters("logits", "alternatively, of the unnormalised log-probabilities, exponentiated "
                    "(cirkit's logits)"),
    ), "A categorical distribution per unit over the values of one variable; by default its "
       "probabilities are a softmax of free parameters."),
    Kind("binomial", "input", (
        _UNITS,
        _parameters("probs", "parameterisation of the success probability (one per unit): "
                    "sigmoid, with the initialiser of 'weights'"),
        _parameters("logits", "alternatively, of the success logit: none"),
    ), "A binomial distribution per unit over the values 0 .. values-1 of one variable "
       "(total count values-1), parameterised by one logit per unit through a sigmoid. "
       "cirkit's 'binomial' (total count 255 for 256 values)."),
    Kind("bernoulli", "input", (
        _UNITS,
        _parameters("probs", "parameterisation of the success probability (one per unit): "
                    "sigmoid, with the initialiser of 'weights'"),
        _parameters("logits", "alternatively, of the success logit: none"),
    ), "A Bernoulli distribution per unit over a binary variable (data with values = 2), "
       "parameterised by one logit per unit through a sigmoid: binomial with total count 1."),
    Kind("embedding", "input", (
        _UNITS,
        Option("weights", "kind", "softplus", "parameterisation of the table (K x values); "
               "must be non-negative", category="parameterization"),
    ), "An embedding per unit: a non-negative table of one value per unit and value of one "
       "variable, not normalised (cirkit's 'embedding'); the circuit is then unnormalised."),
    Kind("gaussian", "input", (
        _UNITS,
        Option("mean", "kind", "none", "parameterisation of the means (one per unit)",
               category="parameterization"),
        Option("std", "kind", "softplus", "parameterisation of the standard deviations (one "
               "per unit); must be positive", category="parameterization"),
    ), "A normal distribution per unit over one real-valued variable (data with "
       "domain = real). cirkit's 'gaussian'."),
    Kind("cp", "sum_product", (
        _UNITS,
    ), "CP layer: one dense sum per input of a partition, then a Hadamard product. "
       "Regions with several partitions mix them with a per-unit mixing sum."),
    Kind("cp_t", "sum_product", (
        _UNITS,
    ), "CP-transposed layer: a Hadamard product of a partition's inputs, then one dense "
       "sum. Needs equal unit counts on the inputs of every partition. cirkit's 'cp-t'."),
    Kind("tucker", "sum_product", (
        _UNITS,
    ), "Tucker layer: a Kronecker product of a partition's inputs (K^A units), then one "
       "dense sum. Needs equal unit counts on the inputs of every partition."),
    Kind("softmax", "parameterization", (
        _init(),
    ), "A softmax of free parameters along the last axis (over a sum's inputs, or a "
       "categorical's values): normalised, non-negative weights."),
    Kind("sigmoid", "parameterization", (
        _init(),
    ), "The logistic sigmoid of each free parameter: weights in (0, 1), not normalised."),
    Kind("softplus", "parameterization", (
        _init(),
    ), "log(1 + exp(p)) of each free parameter: positive weights, not normalised."),
    Kind("positive_clamp", "parameterization", (
        _init(),
        Option("minimum", "float", 1e-18, "the lower bound", minimum=0.0, minimum_exclusive=True),
    ), "Each free parameter clamped from below at 'minimum' (cirkit's 'positive-clamp'): "
       "positive weights, not normalised; no gradient below the bound."),
    Kind("none", "parameterization", (
        _init(),
    ), "The free parameters themselves, unconstrained (may be negative; not normalised)."),
    Kind("normal", "initializer", (
        Option("mean", "float", 0.0, "mean"),
        Option("std", "float", 1.0, "standard deviation", minimum=0.0, minimum_exclusive=True),
    ), "Independent normal draws."),
    Kind("uniform", "initializer", (
        Option("a", "float", 0.0, "lower end"),
        Option("b", "float", 1.0, "upper end (greater than a)"),
    ), "Independent uniform draws from [a, b)."),
    Kind("spaced", "initializer", (
        Option("a", "float", -5.0, "lower end"),
        Option("b", "float", 5.0, "upper end"),
    ), "Values evenly spaced over [a, b) along the last axis, at the centres of equal cells "
       "(a + (b - a)(k + 1/2)/K for k = 0 .. K-1), the same for every layer: the default "
       "for binomial inputs, whose units then start at success probabilities spread from "
       "near 0 to near 1."),
    Kind("dirichlet", "initializer", (
        Option("alpha", "float", 1.0, "concentration", minimum=0.0, minimum_exclusive=True),
    ), "Draws from a symmetric Dirichlet along the last axis (each sum's weights, or each "
       "unit's values, sum to 1)."),
)

# The initialiser of an input kind's default parameterisation, where it is not that of
# 'weights': binomial units over many values are sharply peaked, so success logits drawn
# around 0 (every unit near p = 0.5) would give most pixels a vanishing likelihood under
# every unit (a black pixel of 256 values about -177 nats), which Adam's small steps take
# epochs to undo; logits spaced over (-5, 5) give each pixel a unit near its value.
INPUT_INITIALISERS: dict[str, tuple[str, tuple[tuple[str, float], ...]]] = {
    "binomial": ("spaced", (("a", -5.0), ("b", 5.0))),
}

SETTINGS: tuple[SettingSchema, ...] = (
    SettingSchema("data", "kind", "data", REQUIRED, "the data modality the model is over"),
    SettingSchema("regions", "kind", "region_graph", "quad_graph",
                  "the region graph (alternatively, a hand-written `structure` block)"),
    SettingSchema("inputs", "kind", "input", "categorical", "the input layer kind"),
    SettingSchema("layers", "kind", "sum_product", "cp", "the sum-product layer kind"),
    SettingSchema("weights", "kind", "parameterization", "softmax",
                  "parameterisation and initialisation of sum weights"),
    SettingSchema("dense_weights", "kind", "parameterization", None,
                  "parameterisation of the weights of dense sums (default: 'weights')"),
    SettingSchema("mixing_weights", "kind", "parameterization", None,
                  "parameterisation of the weights of sums over several partitions, per-unit "
                  "or dense (default: 'weights')"),
    SettingSchema("mixing", "name", None, "per_unit",
                  "how a region with several partitions sums them: per_unit (unit k mixes "
                  "unit k of each partition; cirkit's use_mixing_weights=True) or dense (one "
                  "dense sum over all partitions' units; use_mixing_weights=False)",
                  choices=("per_unit", "dense")),
    SettingSchema("classes", "int", None, 1,
                  "number of classes: one normalised distribution (output) per class, for "
                  "generative classifiers", minimum=1),
    SettingSchema("seed", "int", None, 0, "seed of the initial weights of the generated module",
                  minimum=0, maximum=2**63 - 1),
)


def kinds_of(category: str) -> dict[str, Kind]:
    return {k.name: k for k in KINDS if k.category == category}


def kind_named(name: str) -> Kind | None:
    return next((k for k in KINDS if k.name == name), None)


def setting_named(key: str) -> SettingSchema | None:
    return next((s for s in SETTINGS if s.key == key), None)
