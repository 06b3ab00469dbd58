"""The comparison server for benchmarks/serve_vs_litserve.py: LitServe serving the project's
published generator the way its documentation serves a PyTorch model.

    python benchmarks/litserve_app.py META_JSON PORT [--max-batch 64] [--batch-timeout 0.005]
        [--png-level 1]

POST /samples takes the service's body ({"n": 1, "seed": S}) and answers one PNG of the same
size and zlib level as the service's. Dynamic batching: up to --max-batch requests, waiting at
most --batch-timeout seconds. The generator is the checkpoint's weights in eval mode, run
eagerly under torch.inference_mode, as a LitServe user would write it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import litserve as ls  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from fastapi import Response  # noqa: E402

from models.checkpoint import load_generator  # noqa: E402
from models.latent import latent_batch  # noqa: E402
from models.output import to_uint8_images  # noqa: E402
from service import encoding  # noqa: E402


class GeneratorAPI(ls.LitAPI):
    def __init__(self, meta_path: Path, png_level: int, **options: object) -> None:
        super().__init__(api_path="/samples", **options)
        self.meta_path = meta_path
        self.png_level = png_level

    def setup(self, device: str) -> None:
        self.generator, meta = load_generator(self.meta_path, device)
        self.generator.eval()
        self.z_dim = meta.z_dim
        self.device = device

    def decode_request(self, request: dict) -> np.ndarray:
        return latent_batch(int(request["seed"]), 0, 1, self.z_dim)[0]  # (z_dim,)

    def batch(self, inputs: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(inputs)).to(self.device)

    def predict(self, z: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return to_uint8_images(self.generator(z))  # (B, H, W, C) uint8

    def unbatch(self, images: np.ndarray) -> list[np.ndarray]:
        return list(images)

    def encode_response(self, image: np.ndarray) -> Response:
        return Response(encoding.png(image, self.png_level), media_type="image/png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("meta", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--batch-timeout", type=float, default=0.005)
    parser.add_argument("--png-level", type=int, default=1)
    args = parser.parse_args()
    api = GeneratorAPI(args.meta, args.png_level, max_batch_size=args.max_batch,
                       batch_timeout=args.batch_timeout)  # fmt: skip
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=60)
    server.run(port=args.port, num_api_servers=1, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
