"""The compose edge (deploy/nginx/edge.conf.template) run by the tests with real nginx: the
API replicas behind one origin, and part uploads passed through to the local S3 server."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from streamify.devtools.cdn import main_config, nginx_binary
from streamify.devtools.local import logged_server, port_open

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "edge.conf.template"
PLACEHOLDER = re.compile(r"\$\{(EDGE_[A-Z0-9_]+)\}")


def render(values: dict[str, str]) -> str:
    """Fill `${EDGE_…}` in as the nginx image's envsubst does; nginx's own `$vars` stay."""
    return PLACEHOLDER.sub(lambda m: values[m[1]], TEMPLATE.read_text())


@contextlib.contextmanager
def local_edge(folder: Path, *, port: int, api: str, s3: str, raw_bucket: str) -> Iterator[str]:
    """nginx on 127.0.0.1:`port` in front of the API replicas (`api`: host:port, the host
    resolving to each replica) and the S3 server (`s3`); yields its base URL."""
    folder = folder.resolve()
    (folder / "temp").mkdir(parents=True, exist_ok=True)
    server = folder / "edge.conf"
    server.write_text(
        render(
            {
                "EDGE_LISTEN": f"127.0.0.1:{port}",
                "EDGE_API": api,
                "EDGE_S3": s3,
                "EDGE_RAW_BUCKET": raw_bucket,
                "EDGE_ACCESS_LOG": str(folder / "access.log"),
            }
        )
    )
    config = folder / "nginx.conf"
    config.write_text(main_config(folder, server))
    args = [nginx_binary(), "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
    with logged_server(
        args,
        log_path=folder / "nginx.log",
        ready=lambda: port_open(port),
        what="the edge (nginx)",
        timeout=30,
    ):
        yield f"http://127.0.0.1:{port}"
