"""Class labels of a request (service/labels.py): by index or by name, every mistake a
FieldError naming its field, and the default class of each sample a function of its index."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from service.errors import FieldError
from service.labels import check_label_fields, class_index, query_label, sample_labels, walk_label
from service.schemas import InterpolateRequest, SampleRequest

DIGITS = SimpleNamespace(ref="digits@9", classes=[str(d) for d in range(10)])
SHAPES = SimpleNamespace(ref="shapes@1", classes=["circle", "square", "7"])
PLAIN = SimpleNamespace(ref="ring@3", classes=[])
MANY = SimpleNamespace(ref="many@1", classes=[f"c{i}" for i in range(30)])


def _refused(fn, *args) -> FieldError:
    with pytest.raises(FieldError) as refused:
        fn(*args)
    return refused.value


def test_a_class_by_index_or_by_name() -> None:
    assert class_index(SHAPES, 1, "label") == 1
    assert class_index(SHAPES, "square", "label") == 1
    assert class_index(SHAPES, "7", "label") == 2  # a name that reads like a number


def test_wrong_classes_name_the_field_and_what_exists() -> None:
    error = _refused(class_index, SHAPES, 3, "labels.4")
    assert error.field == "labels.4" and "out of range" in str(error) and "0 .. 2" in str(error)
    error = _refused(class_index, SHAPES, "triangle", "label")
    assert error.field == "label" and "['circle', 'square', '7']" in str(error)
    error = _refused(class_index, MANY, "nope", "label")
    assert "and 10 more" in str(error)  # a long list is cut short
    error = _refused(class_index, PLAIN, 0, "label")
    assert "ring@3 is unconditional" in str(error)


def test_the_query_label_prefers_a_name_then_plain_decimals() -> None:
    assert query_label(SHAPES, "7") == 2  # the class named "7", not index 7
    assert query_label(DIGITS, "3") == 3
    assert query_label(SHAPES, "1") == 1
    for text in ("+1", "01", " 1", "1.0"):  # not plain decimal: looked up as a name
        error = _refused(query_label, SHAPES, text)
        assert error.location == "query" and error.field == "label"


def test_label_or_labels_not_both_and_one_per_sample() -> None:
    check_label_fields(None, None, 4)
    check_label_fields(2, None, 4)
    check_label_fields(None, [0, 1, 2, 0], 4)
    assert _refused(check_label_fields, 1, [1], 1).field == "labels"
    error = _refused(check_label_fields, None, [0, 1], 3)
    assert error.field == "labels" and "2 classes for n = 3" in str(error)


def test_each_sample_gets_its_class() -> None:
    cycled = sample_labels(SHAPES, SampleRequest(n=5, seed=0, offset=4))
    assert cycled.tolist() == [1, 2, 0, 1, 2]  # (offset + i) mod 3: the index alone decides
    same = sample_labels(SHAPES, SampleRequest(n=3, seed=0, label="square"))
    assert same.dtype == np.int64 and same.tolist() == [1, 1, 1]
    given = sample_labels(SHAPES, SampleRequest(n=2, seed=0, labels=["7", 0]))
    assert given.tolist() == [2, 0]
    assert sample_labels(PLAIN, SampleRequest(n=2, seed=0)) is None
    error = _refused(sample_labels, SHAPES, SampleRequest(n=2, seed=0, labels=[0, "x"]))
    assert error.field == "labels.1"


def test_a_walk_keeps_one_class() -> None:
    walk = InterpolateRequest(seed_a=1, seed_b=1, index_a=7, index_b=8)
    assert walk_label(SHAPES, walk) == 1  # address a's own class: 7 mod 3
    assert (
        walk_label(SHAPES, InterpolateRequest(seed_a=1, seed_b=1, index_a=7, index_b=8, label=0))
        == 0
    )
    assert walk_label(PLAIN, walk) is None
