"""A git server on loopback: bare repositories over HTTP, served by `git http-backend`.

A small CGI bridge written here (Python's http.server has no maintained CGI handler): each request
runs `git http-backend` with the CGI variables of RFC 3875, the request body (chunked bodies are
de-chunked first) on stdin, and its `Status:`/header lines turned into the HTTP response. Push
works without authentication because every request runs with `http.receivepack=true`; pushing to
`/<name>.git` that does not exist yet creates the bare repository (the GitOps remote of a later
issue creates repositories this way). Run as `python -m opendesk_deployer.rig.gitserver`.

`git` is found through the Runner (so `OPENDESK_BIN_GIT` applies); the CGI call itself streams
bytes, which `Runner.run` (text in, text out) cannot, so it is a direct subprocess here.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import unquote, urlsplit

from opendesk_deployer import logs
from opendesk_deployer.runner import Runner

REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.git$")
COPY_CHUNK = 64 * 1024


def init_bare(root: Path, name: str, runner: Runner | None = None) -> Path:
    """Create the bare repository `root/name` (name ends in .git) that accepts pushes over HTTP."""
    if not REPO_NAME.match(name):
        raise ValueError(f"not a repository name: {name!r} (expected <name>.git)")
    path = root / name
    r = runner or Runner()
    if not path.exists():
        r.run("git", ["init", "--quiet", "--bare", "--initial-branch=main", str(path)])
    r.run("git", ["--git-dir", str(path), "config", "http.receivepack", "true"])
    return path


class _Handler(BaseHTTPRequestHandler):
    server: _GitHTTPServer
    server_version = "opendesk-rig-git/1"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _body(self) -> IO[bytes]:
        body = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it)
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                _copy(self.rfile, body, size)
                self.rfile.readline(8)  # CRLF after each chunk
        else:
            _copy(self.rfile, body, int(self.headers.get("Content-Length") or 0))
        body.seek(0)
        return body

    def _handle(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path == "/healthz":
            self._plain(HTTPStatus.OK, "ok\n")
            return
        repo = path.lstrip("/").split("/", 1)[0]
        if not REPO_NAME.match(repo) or ".." in path:
            self._plain(HTTPStatus.NOT_FOUND, "not found\n")
            return
        root = self.server.root
        if (
            not (root / repo).exists()
            and path.endswith("/info/refs")
            and "service=git-receive-pack" in url.query
        ):
            with self.server.init_lock:
                init_bare(root, repo, self.server.runner)
        with self._body() as body:
            self._cgi(path, url.query, body)

    def _cgi(self, path: str, query: str, body: IO[bytes]) -> None:
        size = os.fstat(body.fileno()).st_size
        root = self.server.root
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(size),
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
        }
        for header, var in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
            ("Accept", "HTTP_ACCEPT"),
        ):
            if self.headers.get(header):
                env[var] = self.headers[header]
        with subprocess.Popen(
            [str(self.server.git), "http-backend"],
            stdin=body,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            env=env,
        ) as proc:
            assert proc.stdout is not None
            self._relay(proc.stdout)

    def _relay(self, out: IO[bytes]) -> None:
        status = HTTPStatus.OK.value
        reason = "OK"
        headers: list[tuple[str, str]] = []
        while True:
            line = out.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
            if key.lower() == "status":
                code, _, reason = value.strip().partition(" ")
                status = int(code)
            else:
                headers.append((key, value.strip()))
        self.send_response(status, reason or None)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        shutil.copyfileobj(out, self.wfile, COPY_CHUNK)

    def _plain(self, status: HTTPStatus, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: Path, runner: Runner) -> None:
        super().__init__(address, _Handler)
        self.root = root
        self.runner = runner
        self.git = runner.resolve("git")
        self.init_lock = threading.Lock()


def _copy(src: BinaryIO | io.BufferedIOBase, dst: IO[bytes], size: int) -> None:
    while size > 0:
        data = src.read(min(size, COPY_CHUNK))
        if not data:
            raise ConnectionError("request body ended early")
        dst.write(data)
        size -= len(data)


def serve(root: Path, host: str, port: int, port_file: Path | None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    server = _GitHTTPServer((host, port), root, Runner())
    bound = server.server_address[1]
    if port_file:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(f"{bound}\n")
        tmp.replace(port_file)
    sys.stderr.write(f"git server: http://{host}:{bound}/ serving {root}\n")
    sys.stderr.flush()
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m opendesk_deployer.rig.gitserver")
    p.add_argument("--root", type=Path, required=True, help="folder of bare repositories")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    a = p.parse_args(argv)
    logs.configure(os.environ.get("OPENDESK_LOG_LEVEL", "INFO"))
    serve(a.root, a.host, a.port, a.port_file)


if __name__ == "__main__":
    main()
