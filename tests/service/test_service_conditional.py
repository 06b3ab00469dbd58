"""Class-conditional models over real HTTP ("sixteen sevens, seed 42"): a sample depends only on
(version, seed, index, label), whatever shares its device batch; a class is the same by index
or by name; with no label every class comes in turn; every mistake is a 422 naming the field;
unconditional models answer what they did and refuse labels; the console's class picker. Plus
the device module of a conditional generator, without HTTP: batch norm folded in G's net,
exact buckets."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from browser import SCREENSHOTS, assert_clean, open_browser, wait_until
from sample_service_harness import ServiceProcess, trained_looking

from models.checkpoint import load_generator, save_generator
from models.config import DCGANConfig, MLPConfig
from models.latent import latent_batch
from models.output import to_uint8_images
from service.inference import (
    REFERENCE_BATCH,
    LabelColumns,
    calibrate,
    inference_dtype,
    input_rows,
    optimize_generator,
    serving_module,
)

CLASSES = ["circle", "square", "7"]  # "7" is class 2: a name that reads like a number
COND = "cond@1"
PLAIN = "plain@1"
IMAGE = DCGANConfig(image_size=8, channels=1, z_dim=16, g_width=8, d_width=8, num_classes=3)
POINTS = MLPConfig(z_dim=2, g_hidden=16, g_layers=2, d_hidden=8, num_classes=3)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cond@1 (1 x 8 x 8 DCGAN, 3 classes), cond-points@1 (2-D MLP, 3 classes) and plain@1
    (the same DCGAN, unconditional), randomly initialised."""
    root = tmp_path_factory.mktemp("conditional") / "models"
    plain = IMAGE.model_copy(update={"num_classes": 0})
    for name, arch, classes in (("cond", IMAGE, CLASSES), ("cond-points", POINTS, CLASSES),
                                ("plain", plain, [])):  # fmt: skip
        save_generator(root, name, trained_looking(arch), arch, step=1, dataset="none",
                       loss="none", classes=classes)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def api(store: Path, make_service) -> ServiceProcess:
    service = make_service(store, max_batch_size=8, max_batch_wait_ms=20)
    service.wait_ready()
    return service


def npy(api: ServiceProcess, **body) -> np.ndarray:
    answer = api.client.post("/samples", json={"model": COND, "format": "npy", **body})
    assert answer.status_code == 200, answer.text
    return np.load(io.BytesIO(answer.content), allow_pickle=False)


def refused(answer: httpx.Response, field: str, location: str = "body") -> str:
    """The 422's message, after checking that it names `field` where it was sent."""
    assert answer.status_code == 422, answer.text
    locs = [".".join(str(p) for p in e["loc"]) for e in answer.json()["detail"]]
    assert f"{location}.{field}" in locs, locs
    message = answer.json()["message"]
    assert f"{location}.{field}" in message
    return message


def reference(store: Path, ref: str, seed: int, labels: list[int] | None) -> np.ndarray:
    """Samples 0.. of `seed` as the device computes them: the serving module on the reference
    batch of 64 rows, which the calibration makes every bucket agree with bit for bit."""
    name, _, version = ref.partition("@")
    g, meta = load_generator(store / name / f"{int(version):08d}.json")
    dtype = inference_dtype("auto", torch.device("cpu"), meta.output_kind)  # as the service
    module = serving_module(g, meta.z_dim, meta.arch.num_classes, dtype)
    z = latent_batch(seed, 0, REFERENCE_BATCH, meta.z_dim)
    classes = None
    if labels is not None:
        classes = np.resize(np.array(labels, np.int64), REFERENCE_BATCH)  # labels, repeated
    with torch.inference_mode():
        out = module(torch.from_numpy(input_rows(z, classes)))
    return to_uint8_images(out)


def test_the_models_list_says_which_are_conditional(api: ServiceProcess) -> None:
    listed = {v["ref"]: v for m in api.client.get("/models").json()["models"]
              for v in m["versions"]}  # fmt: skip
    assert (listed[COND]["conditional"], listed[COND]["classes"]) == (True, CLASSES)
    assert listed[COND]["meta"]["classes"] == CLASSES
    assert (listed[PLAIN]["conditional"], listed[PLAIN]["classes"]) == (False, [])
    detail = api.client.get("/models/cond").json()["versions"][0]
    assert (detail["conditional"], detail["classes"]) == (True, CLASSES)


def test_sixteen_sevens_seed_42(api: ServiceProcess, store: Path) -> None:
    answer = api.client.post("/samples", json={"model": COND, "n": 16, "seed": 42, "label": "7",
                                               "format": "json"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["labels"] == ["7"] * 16 and len(body["samples"]) == 16
    sevens = npy(api, n=16, seed=42, label=2)
    assert np.array_equal(sevens, reference(store, COND, 42, [2])[:16])
    first = base64.b64decode(body["samples"][0]["png_base64"])
    assert api.client.get(f"/samples/{COND}/42/0.png?label=7").content == first


def test_a_sample_is_the_same_alone_or_in_a_mixed_batch(api: ServiceProcess) -> None:
    alone = {i: npy(api, seed=42, offset=i, label=label)[0]
             for i, label in ((5, 1), (6, 0), (8, 2), (9, 2))}  # fmt: skip
    mixed = npy(api, n=8, seed=42, offset=2, labels=[0, 2, "circle", 1, 0, 2, 1, 2])
    assert np.array_equal(mixed[3], alone[5])  # index 5: class 1
    assert np.array_equal(mixed[4], alone[6])  # index 6: class 0
    assert np.array_equal(mixed[7], alone[9])  # index 9: class 2

    async def crowd() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
            bodies = [{"n": 11, "seed": 42, "offset": 0, "labels": [2] * 11},
                      {"n": 5, "seed": 7, "label": 0}, {"n": 3, "seed": 42, "offset": 8},
                      {"n": 13, "seed": 42, "offset": 4, "label": "square"}]  # fmt: skip
            return await asyncio.gather(*(
                client.post("/samples", json={"model": COND, "format": "npy", **b})
                for b in bodies
            ))  # fmt: skip

    answers = asyncio.run(crowd())
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    arrays = [np.load(io.BytesIO(a.content), allow_pickle=False) for a in answers]
    assert np.array_equal(arrays[0][9], alone[9])  # index 9, class 2, among 11 others
    assert np.array_equal(arrays[3][1], alone[5])  # index 5, class 1, at another position
    assert np.array_equal(arrays[2][0], alone[8])  # index 8 by default: 8 mod 3 = 2


def test_the_label_changes_the_sample(api: ServiceProcess) -> None:
    each = [npy(api, seed=3, offset=4, label=label)[0] for label in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert not np.array_equal(each[a], each[b])


def test_a_class_by_name_is_the_class_by_index(api: ServiceProcess) -> None:
    by_index = npy(api, n=3, seed=5, labels=[0, 1, 2])
    assert np.array_equal(npy(api, n=3, seed=5, labels=CLASSES), by_index)
    assert np.array_equal(npy(api, n=3, seed=5, label="square"), npy(api, n=3, seed=5, label=1))
    png = {q: api.client.get(f"/samples/{COND}/5/1.png{q}") for q in
           ("?label=square", "?label=1", "")}  # fmt: skip
    assert len({r.content for r in png.values()}) == 1  # by name, index, or by default (1 mod 3)
    assert len({r.headers["etag"] for r in png.values()}) == 1
    # In the query a class name wins over an index: "7" is class 2 here, as is "2".
    assert api.client.get(f"/samples/{COND}/5/2.png?label=7").content == (
        api.client.get(f"/samples/{COND}/5/2.png?label=2").content
    )
    other = api.client.get(f"/samples/{COND}/5/1.png?label=circle")
    assert other.content != png[""].content and other.headers["etag"] != png[""].headers["etag"]


def test_with_no_label_every_class_comes_in_turn(api: ServiceProcess) -> None:
    answer = api.client.post("/samples", json={"model": COND, "n": 5, "seed": 8, "offset": 4,
                                               "format": "json"})  # fmt: skip
    assert answer.json()["labels"] == [CLASSES[(4 + i) % 3] for i in range(5)]
    explicit = npy(api, n=5, seed=8, offset=4, labels=[(4 + i) % 3 for i in range(5)])
    assert np.array_equal(npy(api, n=5, seed=8, offset=4), explicit)
    points = api.client.post("/samples", json={"model": "cond-points@1", "n": 4, "seed": 1,
                                               "label": "circle"}).json()  # fmt: skip
    assert points["labels"] == ["circle"] * 4 and len(points["points"]) == 4


def test_a_walk_keeps_its_class(api: ServiceProcess) -> None:
    walk = {"model": COND, "seed_a": 11, "index_a": 4, "seed_b": 12, "index_b": 0, "steps": 4,
            "format": "json"}  # fmt: skip

    def ends(**changes) -> tuple[str, bytes, bytes]:
        answer = api.client.post("/samples/interpolate", json={**walk, **changes})
        assert answer.status_code == 200, answer.text
        frames = answer.json()["frames"]
        first, last = (base64.b64decode(frames[k]["png_base64"]) for k in (0, -1))
        return answer.json()["label"], first, last

    label, first, last = ends(label="7")
    assert label == "7"
    assert first == api.client.get(f"/samples/{COND}/11/4.png?label=7").content
    assert last == api.client.get(f"/samples/{COND}/12/0.png?label=2").content
    label, first, _ = ends()  # default: the class address a has by default, 4 mod 3 = 1
    assert label == "square"
    assert first == api.client.get(f"/samples/{COND}/11/4.png").content


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [({"label": 3}, "label", "out of range"), ({"label": "dog"}, "label", "no class named"),
     ({"labels": [0, 1]}, "labels", "n = 3"), ({"labels": [0, 5, 1]}, "labels.1", "out of range"),
     ({"labels": [0, "cat", 1]}, "labels.1", "no class named"),
     ({"label": 0, "labels": [0, 1, 2]}, "labels", "not both"),
     ({"label": -1}, "label", "class index from 0"), ({"label": 1.0}, "label", "class index"),
     ({"labels": [0, True, 1]}, "labels.1", "class index")],
)  # fmt: skip
def test_bad_labels_are_422_naming_the_field(
    api: ServiceProcess, body: dict, field: str, words: str
) -> None:
    answer = api.client.post("/samples", json={"model": COND, "n": 3, **body})
    assert words in refused(answer, field)


def test_bad_labels_elsewhere_are_422_naming_the_field(api: ServiceProcess) -> None:
    for query in ("dog", "3", "01", ""):
        answer = api.client.get(f"/samples/{COND}/1/0.png", params={"label": query})
        refused(answer, "label", "query")
    walk = {"model": COND, "seed_a": 1, "seed_b": 2, "steps": 3}
    for label in ("dog", 3):
        answer = api.client.post("/samples/interpolate", json={**walk, "label": label})
        refused(answer, "label")


def test_an_unconditional_model_refuses_labels(api: ServiceProcess) -> None:
    for body, field in (({"label": 0}, "label"), ({"labels": [0]}, "labels.0"),
                        ({"label": "circle"}, "label")):  # fmt: skip
        answer = api.client.post("/samples", json={"model": PLAIN, **body})
        assert "unconditional" in refused(answer, field)
    answer = api.client.get(f"/samples/{PLAIN}/1/0.png?label=0")
    assert "unconditional" in refused(answer, "label", "query")
    walk = {"model": PLAIN, "seed_a": 1, "seed_b": 2, "steps": 3, "label": 0}
    assert "unconditional" in refused(api.client.post("/samples/interpolate", json=walk), "label")


def test_an_unconditional_model_answers_as_before(api: ServiceProcess, store: Path) -> None:
    samples = npy(api, model=PLAIN, n=8, seed=42)
    assert np.array_equal(samples, reference(store, PLAIN, 42, None)[:8])
    body = api.client.post("/samples", json={"model": PLAIN, "n": 2, "format": "json"}).json()
    assert "labels" not in body
    walk = {"model": PLAIN, "seed_a": 1, "seed_b": 2, "steps": 3, "format": "json"}
    assert "label" not in api.client.post("/samples/interpolate", json=walk).json()
    listed = api.client.get(f"/samples/{PLAIN}/42/3.png")
    assert listed.status_code == 200 and listed.content[:4] == b"\x89PNG"


# ---- the device module, without HTTP ----


@pytest.mark.parametrize("arch", [IMAGE, POINTS], ids=["dcgan", "mlp"])
def test_the_device_module_folds_g_and_reads_the_label_column(arch) -> None:
    g = trained_looking(arch)
    module = serving_module(g, arch.z_dim, arch.num_classes)
    assert isinstance(module, LabelColumns)
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
    assert not any(isinstance(m, norms) for m in module.modules())  # folded in G's net
    z = latent_batch(3, 0, 12, arch.z_dim)
    labels = np.arange(12) % arch.num_classes
    with torch.inference_mode():
        served = module(torch.from_numpy(input_rows(z, labels)))
        direct = g(torch.from_numpy(z), torch.from_numpy(labels))
    torch.testing.assert_close(served, direct, rtol=1e-4, atol=1e-5)
    plain = arch.model_copy(update={"num_classes": 0})
    assert not isinstance(serving_module(trained_looking(plain), arch.z_dim, 0), LabelColumns)
    assert type(optimize_generator(g)) is type(g)


@pytest.mark.parametrize("arch", [IMAGE, POINTS], ids=["dcgan", "mlp"])
def test_conditional_buckets_are_exact_on_fresh_rows(arch) -> None:
    module = serving_module(trained_looking(arch), arch.z_dim, arch.num_classes)
    cal = calibrate(module, arch.z_dim, 8, torch.device("cpu"), num_classes=arch.num_classes)
    assert cal.exact and cal.max_rows >= 8
    rng = np.random.default_rng(1)
    z = latent_batch(99, 0, REFERENCE_BATCH, arch.z_dim)
    rows = input_rows(z, rng.integers(0, arch.num_classes, REFERENCE_BATCH))  # (64, z_dim + 1)
    with torch.inference_mode():
        whole = module(torch.from_numpy(rows))
        for bucket in cal.buckets:
            take = rng.integers(0, REFERENCE_BATCH, max(1, bucket // 2))
            padded = np.zeros((bucket, rows.shape[1]), np.float32)  # zero rows: class 0
            padded[: len(take)] = rows[take]
            out = module(torch.from_numpy(padded))[: len(take)]
            assert torch.equal(out, whole[torch.from_numpy(take)]), bucket


# ---- the console, in a real browser ----


def _select(driver, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    field = wait_until(driver, lambda: driver.find_element("id", select_id), 30, f"#{select_id}")
    wait_until(driver, lambda: value in [o.get_attribute("value") for o in Select(field).options],
               30, f"{value} in #{select_id}")  # fmt: skip
    Select(field).select_by_value(value)


def _shown(driver, count: int) -> list:
    images = driver.find_elements("css selector", "#gallery-results img")
    return (
        images
        if len(images) == count and all(i.get_property("naturalWidth") for i in images)
        else []
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from open_browser()


def test_the_console_picks_a_class(api: ServiceProcess, browser: Any) -> None:
    from selenium.webdriver.support.ui import Select

    browser.get(f"{api.url}/#/gallery")
    _select(browser, "gallery-model", PLAIN)
    assert not browser.find_element("id", "gallery-class-field").is_displayed()
    _select(browser, "gallery-model", COND)
    picker = Select(browser.find_element("id", "gallery-class"))
    assert [o.text for o in picker.options] == ["every class in turn", *CLASSES]
    _select(browser, "gallery-class", "2")  # "7"
    for field, value in (("gallery-seed", "42"), ("gallery-n", "4")):
        browser.find_element("id", field).clear()
        browser.find_element("id", field).send_keys(value)
    browser.find_element("id", "gallery-show").click()
    images = wait_until(browser, lambda: _shown(browser, 4), 60, "4 sevens")
    body = {"model": COND, "n": 4, "seed": 42, "label": 2, "format": "json"}
    sevens = api.client.post("/samples", json=body).json()
    for i, image in enumerate(images):
        expected = sevens["samples"][i]["png_base64"]
        assert image.get_attribute("src") == f"data:image/png;base64,{expected}"
        link = image.find_element("xpath", "./ancestor::a")
        assert link.get_attribute("href").endswith(f"/samples/{COND}/42/{i}.png?label=7")
        assert link.text == "7"
    assert "class 7" in browser.find_element("id", "gallery-version").text

    _select(browser, "gallery-class", "")
    browser.find_element("id", "gallery-show").click()
    cells = "#gallery-results a"
    wait_until(browser, lambda: [a.text for a in browser.find_elements("css selector", cells)]
               == ["circle", "square", "7", "circle"], 60, "every class in turn")  # fmt: skip
    browser.save_screenshot(str(SCREENSHOTS / "gallery-classes.png"))
    assert_clean(browser, api.url)

    browser.get(f"{api.url}/#/walk")
    _select(browser, "walk-model", COND)
    _select(browser, "walk-class", "1")
    browser.find_element("id", "walk-play").click()
    loaded = "const i = document.querySelector('#walk-animation'); return i && i.naturalWidth;"
    assert wait_until(browser, lambda: browser.execute_script(loaded), 60, "the walk") == 8
    assert "class square" in browser.find_element("id", "walk-version").text
    browser.save_screenshot(str(SCREENSHOTS / "walk-class.png"))
    _select(browser, "walk-model", PLAIN)
    assert not browser.find_element("id", "walk-class-field").is_displayed()

    browser.get(f"{api.url}/#/models")
    card = '[data-model="cond"]'
    wait_until(browser, lambda: "conditional on 3 classes"
               in browser.find_element("css selector", card).text, 30, "the classes")  # fmt: skip
    assert "conditional" not in browser.find_element("css selector", '[data-model="plain"]').text
    assert_clean(browser, api.url)
