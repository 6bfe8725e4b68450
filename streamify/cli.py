"""`streamify dev | serve | migrate | seed | worker | encoder | schema`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import asyncpg
import typer
import uvicorn
import uvloop
from pydantic import ValidationError

from streamify.infra.db import migrate as apply_migrations
from streamify.infra.settings import Settings
from streamify.infra.sql.demo import DemoMedia

if TYPE_CHECKING:
    from starlette.applications import Starlette

cli = typer.Typer(help="Streamify: the video platform's backend.", no_args_is_help=True)


def _settings() -> Settings:
    """The settings, or a clean exit naming what is wrong (never a value: they may be secret)."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            typer.echo(
                f"Invalid settings{' (' + where + ')' if where else ''}: {error['msg']}", err=True
            )
        raise typer.Exit(2) from None


def setup_logging() -> None:
    from streamify.infra.request_ids import RequestIdFilter

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
    # httpx logs every request at INFO: the Prefect client's calls (a 422 for the CSRF token
    # a local Prefect server does not hand out, on every run) drowned what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="API processes sharing the port (default: STREAMIFY_WORKERS)."),
    ] = None,
) -> None:
    """Run the API alone against the configured PostgreSQL and Redis."""
    setup_logging()
    settings = _settings()
    host, port = host or settings.host, port or settings.port
    processes = workers or settings.workers
    if processes == 1:
        uvloop.run(_serve(settings, host, port))
    else:
        _serve_processes(settings, host, port, processes)


@cli.command()
def migrate() -> None:
    """Apply pending database migrations (creates the database when missing)."""
    setup_logging()
    applied = asyncio.run(apply_migrations(_settings().database_url))
    typer.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


async def _seed(
    settings: Settings, videos: int, media: Sequence[DemoMedia] = ()
) -> tuple[int, int]:
    from streamify.devtools.seed import seed as insert_demo_data
    from streamify.services import open_services

    async with asyncpg.create_pool(settings.database_url, min_size=1, max_size=1) as pool:
        counts = await insert_demo_data(pool, videos=videos, media=media)
    async with open_services(settings, background_jobs=False) as services:
        await services.writes.listings_changed()
    return counts


async def _seed_demo_once(settings: Settings, videos: int, folder: Path, api: str) -> None:
    """On an empty database only (restarts do not pile up demo data): demo clips through the
    real pipeline once the API is up, then `videos` feed videos that play their media."""
    import httpx

    from streamify.devtools.demo import process_demo_clips
    from streamify.infra.sql.videos import video_count

    conn = await asyncpg.connect(settings.database_url)
    try:
        existing = await video_count(conn)
    finally:
        await conn.close()
    if existing:
        typer.echo(f"{existing} videos already there; not seeding")
        return
    async with httpx.AsyncClient(base_url=api) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    break
            await asyncio.sleep(0.5)
    typer.echo("demo: transcoding a few clips made with ffmpeg; the feed fills when they are READY")
    media = await process_demo_clips(settings, folder)
    if not media:
        typer.echo("demo: no clip could be processed; see the worker's log", err=True)
        return
    users, count = await _seed(settings, videos, media)
    typer.echo(f"seeded {count} demo videos from {users} users")


@cli.command()
def seed(
    videos: Annotated[int, typer.Option(min=1, help="How many demo videos to insert.")] = 1000,
) -> None:
    """Insert demo videos with owners, renditions and manifests (READY, PUBLIC)."""
    setup_logging()
    settings = _settings()
    started = time.perf_counter()
    asyncio.run(apply_migrations(settings.database_url))
    users, count = asyncio.run(_seed(settings, videos))
    typer.echo(f"seeded {count} videos from {users} users in {time.perf_counter() - started:.1f}s")


@cli.command()
def dev(
    seed_demo: Annotated[
        bool, typer.Option("--seed", help="Add 1,000 demo videos to an empty database.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the whole system on this machine with local defaults."""
    setup_logging()
    # uvicorn re-raises SIGTERM after its shutdown; as an exception it unwinds through the
    # cleanup that stops the local S3, Prefect server and worker, instead of killing us first.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvloop.run(_dev(_settings(), seed_demo=seed_demo, host=host, port=port))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


async def _dev(settings: Settings, *, seed_demo: bool, host: str | None, port: int | None) -> None:
    from streamify.devtools.cdn import local_cdn
    from streamify.devtools.local import (
        encoder_process,
        first_free_port,
        local_prefect_server,
        local_services,
        prefect_database_url,
        worker_process,
    )
    from streamify.devtools.s3_setup import prepare_s3
    from streamify.devtools.seaweed import embedded_s3, forward_to_hook
    from streamify.infra.db import ensure_database

    state = Path(settings.state_dir)
    async with (
        local_services(settings.database_url, settings.redis_url, state) as urls,
        contextlib.AsyncExitStack() as stack,
    ):
        settings = settings.model_copy(update={"database_url": urls[0], "redis_url": urls[1]})
        bind_host, bind_port = host or settings.host, port or settings.port
        local_s3 = None
        if settings.s3_endpoint_url is None:
            local_s3 = stack.enter_context(
                embedded_s3(
                    state / "s3",
                    access_key=settings.s3_access_key_id,
                    secret_key=settings.s3_secret_access_key,
                    port=settings.local_s3_port,
                )
            )
            settings = settings.model_copy(update={"s3_endpoint_url": local_s3.endpoint})
            await prepare_s3(settings)
            typer.echo(f"local S3 at {local_s3.endpoint} (data in {state / 's3'})")
        if "cdn_shared_secret" not in settings.model_fields_set:
            # Only this run's nginx knows it: nothing else can ask the API about media.
            settings = settings.model_copy(update={"cdn_shared_secret": secrets.token_urlsafe(32)})
        if "cdn_base_url" not in settings.model_fields_set and settings.s3_endpoint_url:
            # The compose CDN's nginx configuration, in front of this S3 and this API.
            cdn = stack.enter_context(
                local_cdn(
                    state / "cdn",
                    port=settings.local_cdn_port,
                    api=f"127.0.0.1:{bind_port}",
                    s3=urlsplit(settings.s3_endpoint_url).netloc,
                    secret=settings.cdn_shared_secret,
                )
            )
            settings = settings.model_copy(update={"cdn_base_url": cdn})
            typer.echo(f"media CDN (nginx) at {cdn}")
        await apply_migrations(settings.database_url)
        if settings.prefect_api_url is None:
            prefect_db = prefect_database_url(settings.database_url)
            await ensure_database(prefect_db)
            api_url = stack.enter_context(
                local_prefect_server(
                    state / "prefect", prefect_db, port=first_free_port(settings.local_prefect_port)
                )
            )
            settings = settings.model_copy(update={"prefect_api_url": api_url})
            typer.echo(f"Prefect UI at {api_url.removesuffix('/api')}")
        stack.enter_context(worker_process(settings, state / "worker.log"))
        # Two encoders: a video's chunks spread over both, as they would over two machines.
        for n in (1, 2):
            stack.enter_context(encoder_process(settings, state / f"encoder-{n}.log"))
        if local_s3 is not None:
            # Upload events reach the API by the webhook, as production's MinIO sends them.
            hook = f"http://127.0.0.1:{bind_port}/hooks/s3"
            forwarding = asyncio.create_task(
                forward_to_hook(local_s3, settings.s3_raw_bucket, hook, settings.s3_webhook_secret)
            )
            stack.callback(forwarding.cancel)
            typer.echo("upload events: SeaweedFS's metadata stream -> POST /hooks/s3")
        if seed_demo:
            api = f"http://127.0.0.1:{bind_port}"
            seeding = asyncio.create_task(_seed_demo_once(settings, 1000, state / "demo", api))
            stack.callback(seeding.cancel)
        base = f"http://{bind_host}:{bind_port}"
        serving = asyncio.create_task(_serve(settings, bind_host, bind_port))
        # Said once it answers: the URL printed must work when a person opens it.
        await _until_ready(f"http://127.0.0.1:{bind_port}", serving)
        typer.echo(f"\n  Streamify is up: the web app at {base}/ and GraphiQL at {base}/graphql\n")
        await serving


async def _until_ready(base: str, serving: asyncio.Task[None]) -> None:
    """Wait until /readyz answers 200 (or the server stops: its error is raised)."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while not serving.done():
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    await serving


def server_options(settings: Settings) -> dict[str, Any]:
    """What every API process is served with, one process or many."""
    return {
        "http": "httptools",
        "log_level": "info",
        # The app logs each request itself (web/access_log.py) and reads forwarding headers
        # itself (web/request_layer.py), so it sees the peer when it trusts a request id.
        "access_log": False,
        "proxy_headers": False,
    }


async def _serve(settings: Settings, host: str, port: int) -> None:
    from streamify.app import create_app

    config = uvicorn.Config(create_app(settings), host=host, port=port, **server_options(settings))
    await uvicorn.Server(config).serve()


def _serve_processes(settings: Settings, host: str, port: int, processes: int) -> None:
    """uvicorn's supervisor: it binds the port once, starts `processes` API processes that
    accept on it (each with its own services, L1 and listeners), and restarts any that dies.
    They share a folder for their metrics, so /metrics in any of them counts all of them."""
    import os
    import shutil
    import tempfile

    from streamify.infra.metrics import SHARED_DIR_ENV

    own_folder = SHARED_DIR_ENV not in os.environ
    if own_folder:
        os.environ[SHARED_DIR_ENV] = tempfile.mkdtemp(prefix="streamify-metrics-")
    try:
        _run_supervisor(settings, host, port, processes)
    finally:
        if own_folder:
            shutil.rmtree(os.environ.pop(SHARED_DIR_ENV), ignore_errors=True)


def _run_supervisor(settings: Settings, host: str, port: int, processes: int) -> None:
    uvicorn.run(
        "streamify.cli:process_app",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        loop="uvloop",
        **server_options(settings),
    )


def process_app() -> Starlette:
    """The app of one process started by `serve --workers N`, in a fresh interpreter that
    reads the same environment."""
    from streamify.app import create_app

    setup_logging()
    return create_app(_settings())


@cli.command()
def worker() -> None:
    """Serve the transcoding flow: pull runs of transcode-video/transcode and execute them."""
    import asyncio
    import os

    setup_logging()
    settings = _settings()
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    from prefect.runner import Runner

    from streamify.names import TRANSCODE_DEPLOYMENT_NAME
    from streamify.pipelines.transcode.flow import transcode_video
    from streamify.pipelines.transcode.warm_start import start_flow_runs_warm

    start_flow_runs_warm()
    # A run mostly waits on its chunks (the encoders' work); its own ffmpeg work is the audio,
    # the poster and copy-only stitching. Prefect's runner asks for scheduled runs every 10 s
    # by default (`flow.serve` offers no other): up to 10 s of an upload's wait.
    runner = Runner(
        name=TRANSCODE_DEPLOYMENT_NAME,
        limit=settings.worker_flow_runs,
        query_seconds=settings.worker_poll_seconds,
    )
    runner.add_flow(transcode_video, name=TRANSCODE_DEPLOYMENT_NAME)
    asyncio.run(runner.start())


@cli.command()
def encoder() -> None:
    """Encode chunks: a Prefect task worker for the transcoding flow's chunk runs. Run one or
    more on every machine that should encode; each takes STREAMIFY_ENCODER_CONCURRENCY chunks
    at once, and one machine never more than its cores (STREAMIFY_ENCODER_HOST_SLOTS)."""
    import asyncio
    import os

    setup_logging()
    settings = _settings()
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    # A chunk is a background task run with no flow run: Prefect cannot send its log lines
    # to the API and warned about it for every chunk (the flow's own lines, in the worker,
    # go to the API as before).
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    from prefect.task_worker import StopTaskWorker

    from streamify.pipelines.transcode.chunk_task import serve_encoder

    # Prefect's SIGTERM handler stops the task worker by raising this out of the event loop
    # once the worker has stopped: a clean stop, not a crash to print a trace for.
    with contextlib.suppress(StopTaskWorker):
        asyncio.run(serve_encoder(settings))


@cli.command()
def schema() -> None:
    """Print the GraphQL schema (SDL): the web app's operation types are generated from it."""
    from streamify.schema import build_schema

    typer.echo(build_schema(_settings()).as_str())


def main() -> None:
    cli()
