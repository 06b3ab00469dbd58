"""Class labels of a request, checked against the model that serves it.

A conditional model (its checkpoint names `classes`) takes one class per sample, given by
index or by name; an unconditional one takes none. Each check raises a FieldError naming the
field, so every mistake is a 422. The labels ride to the device as a last column of z
(service.inference.input_rows), so a sample's label, like its z, depends on nothing else in
its batch.
"""

from __future__ import annotations

import re

import numpy as np

from models.checkpoint import CheckpointMeta
from models.conditioning import cycle_labels
from service.errors import FieldError
from service.schemas import InterpolateRequest, SampleRequest

_PLAIN_DECIMAL = re.compile(r"0|[1-9][0-9]{0,5}")  # no sign, leading zero or space
_SHOWN_NAMES = 20  # an unknown name's message lists at most this many classes


def class_index(meta: CheckpointMeta, value: int | str, field: str, location: str = "body") -> int:
    """The index of class `value` (an index, or a name) of `meta`'s model."""
    if not meta.classes:
        raise FieldError(
            field, value, f"{meta.ref} is unconditional: it takes no {field.split('.')[0]}",
            location,
        )  # fmt: skip
    if isinstance(value, int):
        if value >= len(meta.classes):
            raise FieldError(
                field, value, f"class index {value} is out of range: {meta.ref} has "
                f"{len(meta.classes)} classes (0 .. {len(meta.classes) - 1})", location,
            )  # fmt: skip
        return value
    try:
        return meta.classes.index(value)
    except ValueError:
        shown = meta.classes[:_SHOWN_NAMES]
        left = len(meta.classes) - len(shown)
        more = f" and {left} more" if left else ""
        raise FieldError(
            field, value, f"{meta.ref} has no class named {value!r}; classes: {shown}{more}",
            location,
        ) from None  # fmt: skip


def query_label(meta: CheckpointMeta, text: str) -> int:
    """`?label=` of an address: a class name if `meta` has one of that spelling, else an index
    in plain decimal (so '7' is the class named '7' where there is one, else class 7)."""
    if meta.classes and text not in meta.classes and _PLAIN_DECIMAL.fullmatch(text):
        return class_index(meta, int(text), "label", "query")
    return class_index(meta, text, "label", "query")


def check_label_fields(label: object, labels: list | None, n: int) -> None:
    """The checks that need no model: label or labels, and labels of length n."""
    if label is not None and labels is not None:
        raise FieldError(
            "labels", labels, "give label (one class for every sample) or labels (one per "
            "sample), not both",
        )  # fmt: skip
    if labels is not None and len(labels) != n:
        raise FieldError("labels", labels, f"labels holds {len(labels)} classes for n = {n}")


def sample_labels(meta: CheckpointMeta, req: SampleRequest) -> np.ndarray | None:
    """The class index of each sample (n,) int64, or None for an unconditional model (after
    check_label_fields). With neither label nor labels, sample i is class (offset + i) mod
    classes: every class in turn, a function of the sample's index alone."""
    if req.labels is not None:
        return np.array(
            [class_index(meta, v, f"labels.{i}") for i, v in enumerate(req.labels)], np.int64
        )
    if req.label is not None:
        return np.full(req.n, class_index(meta, req.label, "label"), np.int64)
    if not meta.classes:
        return None
    return cycle_labels(req.offset, req.n, len(meta.classes))


def walk_label(meta: CheckpointMeta, req: InterpolateRequest) -> int | None:
    """The class of every frame of a walk, or None for an unconditional model. Omitted: the
    class address a has by default, so frame 0 is the sample at address a."""
    if req.label is not None:
        return class_index(meta, req.label, "label")
    if not meta.classes:
        return None
    return req.index_a % len(meta.classes)


def names(meta: CheckpointMeta, labels: np.ndarray) -> list[str]:
    return [meta.classes[i] for i in labels.tolist()]
