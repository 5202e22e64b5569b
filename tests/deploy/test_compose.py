"""Static checks of docker-compose.yml and deploy/Dockerfile.

No Docker engine runs where the suite runs, so these tests read the files and check the
mistakes that would only show up at `docker compose up`: a service started before what it
needs, a URL pointing at the wrong host, a CLI command that does not exist, state that
disappears with its container.
"""

from __future__ import annotations

import importlib
import re
import sys
import tomllib
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.compose_file import (
    _VAR,
    DOCKERFILE,
    DOCKERIGNORE,
    EXPECTED_SUBCOMMANDS,
    OUR_IMAGE,
    PYPROJECT,
    REPO_ROOT,
    STATEFUL,
    TEST_ENV,
    all_strings,
    command_of,
    depends_on,
    dockerfile_instructions,
    env_of,
    exec_form,
    frontdesk_invocations,
    interpolate,
    load_compose,
    named_volumes,
    our_services,
    published_ports,
    services,
)

# --- compose file as a whole ------------------------------------------------------------------


def test_interpolation_resolves_and_requires_the_master_key():
    strings = all_strings(load_compose())
    for path, value in strings:
        leftover = _VAR.sub("", value)
        assert "$" not in leftover, f"{path}: {value!r} has a $ that compose cannot interpolate"
        interpolate(value, TEST_ENV)

    # Without a master key compose must refuse to start rather than run on a default secret.
    master_key = services()["api"]["environment"]["FRONTDESK_MASTER_KEY"]
    with pytest.raises(KeyError):
        interpolate(master_key, {})


def test_our_image_is_built_once_and_shared():
    ours = our_services()
    assert {"api", "worker", "migrate", "temporal-setup"} <= set(ours)
    builds = {repr(svc.get("build")) for svc in ours.values()}
    images = {svc.get("image") for svc in ours.values()}
    assert images == {OUR_IMAGE}, images
    assert len(builds) == 1, builds
    build = next(iter(ours.values()))["build"]
    assert (REPO_ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_database_password_override_reaches_both_sides():
    """POSTGRES_PASSWORD set by the operator must change the server and the URL together."""
    override = {"POSTGRES_PASSWORD": "s3cret", "TEMPORAL_DB_PASSWORD": "t3mporal"}
    svcs = services()
    assert urlsplit(env_of(svcs["api"], override)["DATABASE_URL"]).password == "s3cret"
    assert env_of(svcs["postgres"], override)["POSTGRES_PASSWORD"] == "s3cret"
    assert env_of(svcs["temporal"], override)["POSTGRES_PWD"] == "t3mporal"
    assert env_of(svcs["temporal-db"], override)["POSTGRES_PASSWORD"] == "t3mporal"


def test_depends_on_targets_exist_and_support_their_condition():
    svcs = services()
    for name, svc in svcs.items():
        for target, condition in depends_on(svc).items():
            assert target in svcs, f"{name} depends on unknown service {target}"
            assert target != name
            dependency = svcs[target]
            if condition == "service_healthy":
                check = dependency.get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )
            elif condition == "service_completed_successfully":
                # Unquoted `no` is YAML for False, which compose rejects; it must be "no".
                assert dependency.get("restart") == "no", (
                    f"{name} waits for {target} to exit, but {target} is not a one-shot job"
                )
            else:
                assert condition == "service_started", f"{name}: unknown condition {condition}"


def test_start_order_of_jobs_and_app():
    svcs = services()
    assert depends_on(svcs["migrate"])["postgres"] == "service_healthy"
    assert depends_on(svcs["temporal-setup"])["temporal"] == "service_healthy"
    assert depends_on(svcs["temporal"])["temporal-db"] == "service_healthy"
    for name in ("api", "worker"):
        deps = depends_on(svcs[name])
        assert deps["migrate"] == "service_completed_successfully", name
        assert deps["temporal-setup"] == "service_completed_successfully", name
        assert deps["redis"] == "service_healthy", name
    for name, svc in svcs.items():
        if svc.get("restart") != "no":
            assert svc.get("restart") in ("unless-stopped", "always"), f"{name} is not restarted"


def test_postgres_image_has_pgvector():
    assert "pgvector" in services()["postgres"]["image"]


def test_stateful_services_keep_data_in_declared_named_volumes():
    compose = load_compose()
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, path in STATEFUL.items():
        volumes = named_volumes(compose["services"][name])
        assert path in volumes.values(), f"{name} keeps {path} in its container layer"
        assert set(volumes) <= declared, f"{name} uses undeclared volumes {set(volumes) - declared}"
        used |= set(volumes)
    assert declared == used, f"declared but unused volumes: {declared - used}"


def test_api_and_ingest_workers_share_the_upload_directory():
    """An upload the API stored must be readable by whichever ingest worker takes the job."""
    compose = load_compose()
    upload_dir = env_of(compose["services"]["ingest-worker"])["FRONTDESK_KNOWLEDGE_UPLOAD_DIR"]
    mounts = {name: named_volumes(compose["services"][name]) for name in ("api", "ingest-worker")}
    shared = {volume for volume, path in mounts["api"].items() if path == upload_dir}
    assert shared and shared == {volume for volume, path in mounts["ingest-worker"].items() if path == upload_dir}
    assert env_of(compose["services"]["api"])["FRONTDESK_INGEST_TASK_QUEUE"] == command_of(compose["services"]["ingest-worker"])[-1]


def test_conversation_and_stt_workers_share_the_media_directory():
    """A voice note a conversation worker downloaded must be readable by whichever stt worker
    transcribes it, and the voice reply an stt worker wrote by the worker that sends it."""
    compose = load_compose()
    stt = compose["services"]["stt-worker"]
    media_dir = env_of(stt)["FRONTDESK_MEDIA_DIR"]
    mounts = {name: named_volumes(compose["services"][name]) for name in ("worker", "stt-worker")}
    shared = {volume for volume, path in mounts["worker"].items() if path == media_dir}
    assert shared and shared == {volume for volume, path in mounts["stt-worker"].items() if path == media_dir}
    assert env_of(compose["services"]["worker"])["FRONTDESK_MEDIA_DIR"] == media_dir
    # Conversations started by the API send their notes to the queue this worker serves.
    assert env_of(compose["services"]["api"])["FRONTDESK_STT_TASK_QUEUE"] == command_of(stt)[-1] == "stt"
    assert depends_on(stt) == depends_on(compose["services"]["worker"])


def test_image_carries_the_voice_tools():
    """The stt worker runs ffmpeg (OGG/Opus voice replies) and espeak-ng (Hindi speech)."""
    build = services()["stt-worker"]["build"]
    assert {"ffmpeg", "espeak-ng"} <= set(str(build["args"]["APT_PACKAGES"]).split())
    assert any(kw == "ARG" and arg.startswith("APT_PACKAGES") for kw, arg in dockerfile_instructions())


def test_postgres_18_volume_is_mounted_at_the_parent_directory():
    """postgres 18+ images refuse to start with a volume at /var/lib/postgresql/data."""
    for name, svc in services().items():
        tag = str(svc.get("image", "")).rpartition(":")[2]
        major = re.search(r"(\d+)", tag)
        if "postgres" in svc.get("image", "") and major and int(major.group(1)) >= 18:
            assert "/var/lib/postgresql/data" not in named_volumes(svc).values(), name


def test_vllm_is_optional_and_gpu_only():
    svcs = services()
    vllm = svcs["vllm"]
    assert vllm.get("profiles") == ["gpu"]
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert "--served-model-name" in command_of(vllm)
    for name, svc in svcs.items():
        if "gpu" not in (svc.get("profiles") or []):
            assert "vllm" not in depends_on(svc), f"{name} would not start without a GPU"
            assert not svc.get("profiles"), f"{name} is not started by a plain `compose up`"


def test_ports_published():
    svcs = services()
    assert published_ports(svcs["api"]) == {8000: 8000}
    assert published_ports(svcs["temporal"]) == {7233: 7233}
    assert published_ports(svcs["temporal-ui"]) == {8233: 8080}
    assert env_of(svcs["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_healthchecks_use_tools_present_in_their_images():
    svcs = services()
    for name in our_services():
        test = " ".join(map(str, (svcs[name].get("healthcheck") or {}).get("test", [])))
        assert "curl" not in test and "wget" not in test, f"{name}: python:3.11-slim has neither"
    api_check = " ".join(svcs["api"]["healthcheck"]["test"])
    assert "http://localhost:8000/healthz" in api_check
    assert "pg_isready" in svcs["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in svcs["temporal-db"]["healthcheck"]["test"]
    assert svcs["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_temporal_dynamic_config_is_mounted_and_enables_update_with_start():
    temporal = services()["temporal"]
    target = env_of(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = {
        str(entry).split(":")[1]: str(entry).split(":")[0] for entry in temporal.get("volumes", [])
    }
    assert target in mounts, "DYNAMIC_CONFIG_FILE_PATH points at a file that is not mounted"
    source = REPO_ROOT / mounts[target]
    assert source.is_file(), source
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    for key, entries in config.items():
        assert isinstance(entries, list) and all("value" in e for e in entries), key
    # Web chat answers through update-with-start.
    assert config["frontend.enableUpdateWorkflowExecution"][0]["value"] is True
    assert config["frontend.enableExecuteMultiOperation"][0]["value"] is True


def test_worker_serves_the_frontdesk_queue():
    command = command_of(services()["worker"])
    assert command[:2] == ["frontdesk", "worker"]
    assert command[command.index("--queue") + 1] == "frontdesk"


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_installs_the_project_and_runs_frontdesk_as_non_root():
    instructions = dockerfile_instructions()
    keywords = [kw for kw, _ in instructions]
    froms = [arg for kw, arg in instructions if kw == "FROM"]
    args = {
        arg.split("=", 1)[0]: arg.split("=", 1)[1].strip('"')
        for kw, arg in instructions
        if kw == "ARG" and "=" in arg
    }
    resolved_froms = [interpolate(f.split()[0], args) for f in froms]
    assert all(f == "python:3.11-slim" for f in resolved_froms), resolved_froms

    copies = [arg.split() for kw, arg in instructions if kw == "COPY"]
    local_sources = [
        src for parts in copies if not parts[0].startswith("--from") for src in parts[:-1]
    ]
    assert "pyproject.toml" in local_sources
    assert any("pip install ." in arg for kw, arg in instructions if kw == "RUN")

    final_stage = instructions[len(keywords) - 1 - keywords[::-1].index("FROM") :]
    users = [arg.split(":")[0] for kw, arg in final_stage if kw == "USER"]
    assert users and users[-1] not in ("root", "0"), "the final stage runs as root"
    assert "8000" in [arg for kw, arg in instructions if kw == "EXPOSE"]

    entry = [exec_form(arg) for kw, arg in instructions if kw in ("CMD", "ENTRYPOINT")]
    assert entry and entry[-1][0] == "frontdesk"
    assert entry[-1] == ["frontdesk", "api", "--host", "0.0.0.0", "--port", "8000"]


def test_docker_build_context_keeps_what_pip_install_needs():
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("pyproject.toml", "README.md", "core", "api", "*", "."):
        assert needed not in ignored, f".dockerignore drops {needed}"
    assert ".git" in ignored and ".venv" in ignored and ".env" in ignored


# --- the CLI the deployment calls -------------------------------------------------------------


def _frontdesk_entry_point() -> str:
    if not PYPROJECT.is_file():
        pytest.fail("pyproject.toml is missing: the image runs `pip install .`")
    scripts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"].get("scripts", {})
    assert "frontdesk" in scripts, "pyproject.toml has no `frontdesk` console script"
    return scripts["frontdesk"]


def _typer_app(entry_point: str):
    """The Typer app behind the console script, or None while core.cli is not written yet."""
    import typer

    module_name, _, attr = entry_point.partition(":")
    if str(REPO_ROOT) not in sys.path:  # the suite may run without the project installed
        sys.path.insert(0, str(REPO_ROOT))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        if missing.name in {"core", module_name}:
            return None
        raise
    target = getattr(module, attr.split(".")[0], None) if attr else None
    if isinstance(target, typer.Typer):
        return target
    # The script may be a main() wrapper (os._exit after the run); find the app it wraps.
    apps = [value for value in vars(module).values() if isinstance(value, typer.Typer)]
    # Command groups (`frontdesk telegram ...`) are Typer apps added to the root one.
    groups = [group.typer_instance for a in apps for group in a.registered_groups]
    apps = [a for a in apps if not any(a is g for g in groups)]
    assert len(apps) == 1, f"{module_name} should define exactly one root Typer app, found {len(apps)}"
    return apps[0]


def test_commands_used_by_the_deployment_are_frontdesk_subcommands():
    invocations = frontdesk_invocations()
    used = {}
    for argv in invocations:
        assert argv[0] == "frontdesk", argv
        used.setdefault(argv[1], set()).update(a for a in argv[2:] if a.startswith("--"))
    assert used == EXPECTED_SUBCOMMANDS

    entry_point = _frontdesk_entry_point()
    assert entry_point.split(":")[0] == "core.cli", entry_point

    app = _typer_app(entry_point)
    if app is None:
        return  # core.cli not written yet: the names above are what it must register
    import typer.main

    commands = typer.main.get_command(app).commands
    for name, options in EXPECTED_SUBCOMMANDS.items():
        assert name in commands, f"`frontdesk {name}` is not a registered command"
        declared = {opt for param in commands[name].params for opt in param.opts}
        assert options <= declared, f"`frontdesk {name}` lacks options {options - declared}"
