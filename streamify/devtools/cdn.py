"""The local CDN of `streamify dev` and the tests: nginx with the compose CDN's own
configuration (deploy/nginx/cdn.conf.template), in front of the local S3 and asking the API
about every request, so dev checks signed URLs exactly as compose does."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from streamify.devtools.local import logged_server, port_open

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "cdn.conf.template"
PLACEHOLDER = re.compile(r"\$\{(CDN_[A-Z0-9_]+)\}")


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )
    if found is None:
        raise RuntimeError("nginx is not installed: ./scripts/system-deps.sh installs Debian's")
    return found


def render(template: str, values: dict[str, str]) -> str:
    """Fill `${CDN_…}` in as the nginx image's envsubst does; nginx's own `$vars` stay."""
    return PLACEHOLDER.sub(lambda m: values[m[1]], template)


def main_config(folder: Path, server_config: Path) -> str:
    """A whole nginx.conf around the server block: everything it writes under `folder`."""
    temp = folder / "temp"
    # Run by root, nginx's workers would switch to a user that cannot write our folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "daemon off;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  client_body_temp_path {temp / 'body'};\n"
        f"  proxy_temp_path {temp / 'proxy'};\n"
        f"  fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"  uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"  scgi_temp_path {temp / 'scgi'};\n"
        f"  include {server_config};\n"
        "}\n"
    )


@contextlib.contextmanager
def local_cdn(folder: Path, *, port: int, api: str, s3: str, secret: str) -> Iterator[str]:
    """nginx on 127.0.0.1:`port` in front of the API (`api`, host:port) and the S3 server
    (`s3`, host:port), telling the API it is its CDN with `secret`; yields its base URL."""
    # nginx reads relative paths against its prefix (-p): give it absolute ones only.
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "temp").mkdir(exist_ok=True)
    server = folder / "cdn.conf"
    server.write_text(
        render(
            TEMPLATE.read_text(),
            {
                "CDN_LISTEN": f"127.0.0.1:{port}",
                "CDN_API": api,
                "CDN_S3": s3,
                "CDN_CACHE_DIR": str(folder / "cache"),
                "CDN_ACCESS_LOG": str(folder / "access.log"),
                "CDN_SECRET": secret,
            },
        )
    )
    config = folder / "nginx.conf"
    config.write_text(main_config(folder, server))
    args = [nginx_binary(), "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
    with logged_server(
        args,
        log_path=folder / "nginx.log",
        ready=lambda: port_open(port),
        what="the local CDN (nginx)",
        timeout=30,
    ):
        yield f"http://127.0.0.1:{port}"
