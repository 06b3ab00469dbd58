"""The OpenAPI examples of every route: answers (`responses=`) and request bodies.

Kept here so that a route file reads as what the route does. Each constant is one entry of a
route's `responses=` (status -> description, headers, example), a whole `responses=` mapping
(`*_ERRORS`, `*_RESPONSES`), or an `openapi_extra` request body (`*_REQUEST_BODY`). The
messages are the ones the service really answers, with paths shortened to `.../`.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from service.schemas import InterpolateRequest, SampleRequest

Responses = dict[int | str, dict[str, Any]]


def _example(detail: str, description: str, headers: dict | None = None) -> dict:
    entry: dict = {
        "description": description,
        "content": {"application/json": {"example": {"detail": detail}}},
    }
    if headers:
        entry["headers"] = headers
    return entry


# ---- /samples (routes/samples.py) ----

SAMPLE_HEADERS = {
    "X-Model-Version": {"description": "name@version that made the samples",
                        "schema": {"type": "string"}},
    "X-Model-Sha256": {"description": "sha256 of that version's weights",
                       "schema": {"type": "string"}},
    "X-Seed": {"description": "the seed (drawn by the server when the request had none)",
               "schema": {"type": "string"}},
    "X-Offset": {"description": "index of the first sample", "schema": {"type": "string"}},
}  # fmt: skip
SAMPLE_VALIDATION = {
    "description": "A field is wrong: `message` names it and the bad value",
    "content": {"application/json": {"example": {
        "detail": [{"loc": ["body", "n"], "msg": "Input should be less than or equal to 256",
                    "type": "less_than_equal", "input": 1000}],
        "message": "body.n: Input should be less than or equal to 256 (got 1000)"}}},
}  # fmt: skip
SAMPLE_ERRORS: Responses = {
    404: _example("no model named 'cats'; models: ['digits', 'ring-8']",
                  "No such model or version"),
    409: _example("digits@1500 was refused: .../00001500.safetensors: sha256 3f1c… does "
                  "not match the metadata's 9a0b… (truncated or tampered)",
                  "The version's checkpoint was refused"),
    413: _example("request body exceeds the 65536-byte limit (GAN_MAX_BODY_BYTES)",
                  "Body too large"),
    422: SAMPLE_VALIDATION,
    429: _example("sample queue full: 4090 of 4096 samples waiting "
                  "(GAN_MAX_QUEUE_SAMPLES), this request adds 64; retry in 2 s",
                  "Queue full; retry after Retry-After seconds",
                  {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}),
    503: _example("no model has been published yet in model-store: train one "
                  "(POST /train-jobs or `python -m training`); new checkpoints are picked up "
                  "without a restart", "No model to sample from yet"),
    504: _example("256 samples of digits@2000 were not ready within 30 s "
                  "(GAN_REQUEST_TIMEOUT_S); the service is busy: retry later or ask for fewer "
                  "samples", "Timed out"),
}  # fmt: skip
SAMPLE_OK = {
    "description": "The samples; the format follows `format`, else the Accept header",
    "headers": SAMPLE_HEADERS,
    "content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/webp": {"schema": {"type": "string", "format": "binary"}},
        "application/x-npy": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"examples": {
            "images": {"summary": "format json, image model", "value": {
                "model": "digits@2000", "sha256": "9a0b…", "seed": 42, "offset": 0, "n": 1,
                "samples": [{"index": 0, "seed": 42, "media_type": "image/png",
                             "png_base64": "iVBORw0KGgo…"}]}},
            "conditional": {"summary": "format json, conditional model", "value": {
                "model": "digits-cond@2000", "sha256": "7c1d…", "seed": 42, "offset": 0,
                "n": 2, "labels": ["7", "7"],
                "samples": [{"index": 0, "seed": 42, "media_type": "image/png",
                             "png_base64": "iVBORw0KGgo…"},
                            {"index": 1, "seed": 42, "media_type": "image/png",
                             "png_base64": "iVBORw0KGgo…"}]}},
            "points": {"summary": "vector model (2-D mixture)", "value": {
                "model": "ring-8@3000", "sha256": "5e6f…", "seed": 1, "offset": 0, "n": 2,
                "points": [[0.98, 0.03], [-0.71, 0.7]]}},
        }},
    },
}  # fmt: skip
SAMPLE_REQUEST_BODY = {
    "required": False,
    "content": {"application/json": {
        "schema": SampleRequest.model_json_schema(),
        "examples": {
            "zip": {"summary": "16 images as a ZIP of PNGs",
                    "value": {"n": 16, "seed": 42, "model": "digits@2000"}},
            "one": {"summary": "sample 3 of seed 7, truncated",
                    "value": {"n": 1, "seed": 7, "offset": 3, "truncation": 0.7}},
            "points": {"summary": "256 points of a 2-D model",
                       "value": {"n": 256, "seed": 1, "model": "ring-8", "format": "json"}},
            "sevens": {"summary": "sixteen sevens, seed 42 (a conditional model)",
                       "value": {"n": 16, "seed": 42, "model": "digits-cond", "label": "7",
                                 "format": "grid"}},
            "classes": {"summary": "one class per sample, by index or by name",
                        "value": {"n": 3, "seed": 1, "model": "digits-cond",
                                  "labels": [0, "1", 2], "format": "zip"}},
        },
    }},
}  # fmt: skip
WALK_OK = {
    "description": "The walk's frames; the format follows `format` (default webp)",
    "headers": {k: SAMPLE_HEADERS[k] for k in ("X-Model-Version", "X-Model-Sha256")},
    "content": {
        "image/webp": {"schema": {"type": "string", "format": "binary"}},
        "image/gif": {"schema": {"type": "string", "format": "binary"}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "application/x-npy": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"example": {
            "model": "digits@2000", "sha256": "9a0b…", "method": "slerp", "steps": 2,
            "a": {"seed": 1, "index": 0}, "b": {"seed": 2, "index": 0},
            "frames": [{"frame": 0, "media_type": "image/png", "png_base64": "iVBORw0KGgo…"},
                       {"frame": 1, "media_type": "image/png", "png_base64": "iVBORw0KGgo…"}]}},
    },
}  # fmt: skip
WALK_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": InterpolateRequest.model_json_schema(),
        "examples": {
            "webp": {"summary": "16 frames from seed 1 to seed 2, animated",
                     "value": {"model": "digits@2000", "seed_a": 1, "seed_b": 2, "steps": 16}},
            "zip": {"summary": "8 frames between neighbouring samples, as PNGs",
                    "value": {"model": "digits", "seed_a": 7, "index_a": 3, "seed_b": 7,
                              "index_b": 4, "steps": 8, "method": "lerp", "format": "zip"}},
            "class": {"summary": "a walk among threes (a conditional model)",
                      "value": {"model": "digits-cond", "seed_a": 1, "seed_b": 2, "steps": 16,
                                "label": 3}},
        },
    }},
}  # fmt: skip

# ---- /models (routes/models.py) ----

MODEL_NOT_FOUND = {
    "description": "No such model or version",
    "content": {"application/json": {"example": {
        "detail": "no model named 'cats'; models: ['digits', 'ring-8']"}}},
}  # fmt: skip
VERSION_REFUSED = {
    "description": "That version's checkpoint was refused",
    "content": {"application/json": {"example": {
        "detail": "digits@1500 was refused: .../00001500.safetensors: sha256 3f1c… does not "
                  "match the metadata's 9a0b… (truncated or tampered)"}}},
}  # fmt: skip
BAD_PROMOTION = {
    "description": "The body is wrong: `message` names the field and value",
    "content": {"application/json": {"example": {
        "detail": [{"loc": ["body", "version"], "msg": "Input should be a valid integer",
                    "type": "int_type", "input": "latest"}],
        "message": "body.version: Input should be a valid integer (got 'latest')"}}},
}  # fmt: skip
BAD_MODEL_NAME = {
    "description": "The model name in the path is not a valid name",
    "content": {"application/json": {"example": {
        "detail": [{"loc": ["path", "model"], "msg": "String should match pattern "
                    "'^[a-z0-9][a-z0-9_.-]{0,63}$'", "type": "string_pattern_mismatch",
                    "input": "Cats!"}],
        "message": "path.model: String should match pattern '^[a-z0-9][a-z0-9_.-]{0,63}$' "
                   "(got 'Cats!')"}}},
}  # fmt: skip
_VERSION_EXAMPLE = {
    "ref": "digits@2000",
    "version": 2000,
    "status": "ready",
    "refused_reason": None,
    "default": True,
    "loaded": True,
    "device_batch_sizes": [1, 2, 4, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64],
    "inference_dtype": "bfloat16",
    "meta": {
        "name": "digits",
        "version": 2000,
        "dataset": "digits",
        "step": 2000,
        "loss": "non-saturating",
        "created": "2026-11-23T06:30:00+00:00",
        "output_kind": "image",
        "output_shape": [1, 8, 8],
        "z_dim": 100,
        "metrics": {},
        "weights_sha256": "9a0b…",
        "classes": [],
    },
    "conditional": False,
    "classes": [],
}
_REFUSED_EXAMPLE = {
    "ref": "digits@2500",
    "version": 2500,
    "status": "refused",
    "default": False,
    "loaded": False,
    "device_batch_sizes": None,
    "inference_dtype": None,
    "meta": None,
    "conditional": None,
    "classes": [],
    "refused_reason": ".../00002500.safetensors: sha256 3f1c… does not match the "
    "metadata's 9a0b… (truncated or tampered)",
}
_MODEL_EXAMPLE = {
    "name": "digits",
    "default_version": 2000,
    "promoted_version": None,
    "versions": [_VERSION_EXAMPLE, _REFUSED_EXAMPLE],
}
MODEL_LIST_OK = {"content": {"application/json": {"example": {
    "default_model": "digits", "models": [_MODEL_EXAMPLE]}}}}  # fmt: skip
MODEL_OK = {"content": {"application/json": {"example": _MODEL_EXAMPLE}}}
VERSION_OK = {"content": {"application/json": {"example": _MODEL_EXAMPLE["versions"][0]}}}
PROMOTE_OK = {"content": {"application/json": {"example": {
    "model": "digits", "default_version": 1500, "ref": "digits@1500"}}}}  # fmt: skip
DEFAULT_VERSION = _example(
    "digits@1500 is the default version of 'digits'; promote another version first "
    "(POST /models/digits/promote), then delete this one",
    "The version is its model's default",
)

# ---- operations (routes/health.py) ----

HEALTHZ_OK = {"content": {"application/json": {"example": {"status": "alive"}}}}
READYZ_RESPONSES: Responses = {
    200: {"description": "Ready", "content": {"application/json": {"example": {
        "status": "ready", "models_loaded": 1, "queue_samples": 0, "device": "cpu"}}}},
    503: {"description": "Not ready, with the reason", "content": {"application/json": {
        "example": {"status": "not ready", "reason": "no model loaded yet: none "
                    "published in model-store, or none loadable", "models_loaded": 0,
                    "queue_samples": 0, "device": "cpu"}}}},
}  # fmt: skip
METRICS_OK = {"content": {CONTENT_TYPE_LATEST: {"example": (
    "# TYPE gan_device_forward_passes_total counter\n"
    "gan_device_forward_passes_total 42.0\n")}}}  # fmt: skip

# ---- /train-jobs (jobs/api/routes.py) ----

JOB_NOT_FOUND = {"description": "No such job", "content": {"application/json": {"example": {
    "detail": "no training job with id '0123abcd'"}}}}  # fmt: skip
JOB_STORE_UNAVAILABLE = {
    "description": "Redis unreachable (with Retry-After)",
    "content": {"application/json": {"example": {
        "detail": "job store unavailable: Redis cannot be reached; try again shortly"}}},
}  # fmt: skip
JOB_ERRORS: Responses = {404: JOB_NOT_FOUND, 503: JOB_STORE_UNAVAILABLE}
JOB_SUBMIT_ERRORS: Responses = {
    409: {"description": "Model name taken"},
    413: {"description": "Body too large"},
    422: {"description": "A field is wrong (`loc` names it): types, limits, a dataset that "
          "cannot be loaded, a recipe over GAN_MAX_JOB_MEMORY_MB"},
    429: {"description": "Too many queued jobs (with Retry-After)"},
    503: JOB_STORE_UNAVAILABLE,
}  # fmt: skip
JOB_NOT_ENDED = _example(
    "job 0123abcd is running; cancel it (POST /train-jobs/0123abcd/cancel) and delete it once "
    "it has ended",
    "The job is queued or running",
)

# ---- /datasets (routes/datasets.py) ----

_DATASET_EXAMPLE = {
    "name": "faces", "spec": "folder:uploads/faces/images", "format": "images", "samples": 32,
    "image_size": 64, "channels": 3, "shape": [3, 64, 64], "classes": ["cat", "dog"],
    "class_counts": {"cat": 16, "dog": 16}, "bytes": 48213,
    "created": "2025-01-01T12:00:00.000+00:00",
}  # fmt: skip
DATASET_OK = {"content": {"application/json": {"example": _DATASET_EXAMPLE}}}
DATASET_LIST_OK = {"content": {"application/json": {"example": [_DATASET_EXAMPLE]}}}
DATASET_NOT_FOUND = _example("no uploaded dataset named 'faces'", "No such dataset")
BAD_DATASET_NAME = {
    "description": "The dataset name in the path is not a valid name",
    "content": {"application/json": {"example": {
        "detail": [{"loc": ["path", "name"], "msg": "String should match pattern "
                    "'^[a-z0-9][a-z0-9_.-]{0,63}$'", "type": "string_pattern_mismatch",
                    "input": "My Faces"}],
        "message": "path.name: String should match pattern '^[a-z0-9][a-z0-9_.-]{0,63}$' "
                   "(got 'My Faces')"}}},
}  # fmt: skip
DATASET_UPLOAD_BODY = {
    "required": True,
    "description": "The file itself (`curl --data-binary @faces.zip`): a zip, tar or tar.gz "
    "of PNG/JPEG images (one sub-folder per class labels them), an .npz (arrays `x`, "
    "optional `y` and `classes`) or an .npy. Its format is read from its first bytes.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
DATASET_UPLOAD_ERRORS: Responses = {
    400: _example("the client disconnected before the upload was complete",
                  "The upload was cut short"),
    409: _example("name 'faces': an uploaded dataset of that name exists already; choose "
                  "another name or DELETE /datasets/faces first", "Name taken"),
    413: _example("the archive holds more than 100,000 entries (GAN_MAX_UPLOAD_FILES)",
                  "Over GAN_MAX_UPLOAD_BYTES, GAN_MAX_UPLOAD_FILES or GAN_MAX_UNPACKED_BYTES, "
                  "or an entry that unpacks to over 100 times its packed size"),
    422: {"description": "A bad name, or an upload that is not a usable dataset: `message` "
          "names the entry at fault (absolute path, '..', a link or device, an image over "
          "50 megapixels or unreadable, an array that needs pickle, no images)",
          "content": {"application/json": {"example": {
              "detail": [{"loc": ["body"], "msg": "an archive entry's path climbs out of the "
                          "archive with '..'", "type": "value_error", "input": "../x.png"}],
              "message": "body: an archive entry's path climbs out of the archive with '..' "
                         "(got '../x.png')"}}}},
    507: _example("no space left for the upload in the data root; try later", "Disk full"),
}  # fmt: skip
DATASET_IN_USE = _example(
    "dataset 'faces' is read by queued or running training job(s) 0123abcd; cancel them or "
    "wait for them to end",
    "A queued or running job trains on it",
)
