"""Cold start: the import time of app.py against a bare Chalice app, measured in the same run, and the size of
the deployment package.

    python -m local.cold_start [--runs 9] [--stage dev]

Each sample is a fresh interpreter (`python -c`, as a new Lambda sandbox starts one) that times `import app`
with perf_counter; the two apps alternate, so machine load falls on both alike, and the median is printed. The
environment is the stage's, as Lambda sets it (.chalice/config.json), with fake credentials: importing must
reach no AWS service. Also prints the modules that cost most (python -X importtime, cumulative) and the size
of out/<stage>/deployment.zip from `make package STAGE=<stage>` (zipped, and unzipped against Lambda's 250 MB).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
BARE_APP = '''from chalice import Chalice

app = Chalice(app_name="bare")


@app.route("/")
def index():
    return {"hello": "world"}
'''
TIMER = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
# What a handler imports on its first call (app.py imports feature modules lazily, chalicelib/lazy.py): the
# modules its body touches first, then the wiring. Timed after `import app`, in the same fresh interpreter.
FIRST_CALL = {
    "GET /health": [],
    "POST /v1/events (webhook)": ["chalicelib.ingestion.signature", "chalicelib.ingestion.webhook",
                                  "chalicelib.bootstrap"],
    "scoring queue consumer": ["chalicelib.queues", "chalicelib.scoring.pipeline", "chalicelib.deadletters",
                               "chalicelib.bootstrap"],
    "GET /v1/leaderboards/learners": ["chalicelib.leaderboards.service", "chalicelib.bootstrap"],
    "GET /me (page)": ["chalicelib.pages.web", "chalicelib.pages.learner", "chalicelib.bootstrap"],
}
FIRST_TIMER = ("import importlib, time; import app; t = time.perf_counter(); "
               "[importlib.import_module(m) for m in {modules!r}]; print(time.perf_counter() - t)")


def stage_environment(stage: str) -> dict:
    config = json.loads((PROJECT / ".chalice" / "config.json").read_text())
    variables = {**config.get("environment_variables", {}),
                 **config["stages"][stage].get("environment_variables", {})}
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KARMAYOGI_"))}
    return {**keep, **variables, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "ap-south-1", "AWS_REGION": "ap-south-1", "PYTHONDONTWRITEBYTECODE": "1"}


def import_seconds(directory: Path, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", TIMER], cwd=directory, env={**env, "PYTHONPATH": str(directory)},
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def first_call_seconds(modules: list[str], env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", FIRST_TIMER.format(modules=modules)], cwd=PROJECT,
                         env={**env, "PYTHONPATH": str(PROJECT)}, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def heaviest_imports(env: dict, top: int = 8) -> list[tuple[str, float]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=PROJECT,
                         env={**env, "PYTHONPATH": str(PROJECT)}, capture_output=True, text=True, check=True)
    top_level = []
    for line in out.stderr.splitlines():  # "import time:  self [us] | cumulative | <indent>module"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line[len("import time:"):].split("|")
        if len(name) - len(name.lstrip()) == 3:  # imported by app.py itself (1 space: app; +2 per level)
            top_level.append((name.strip(), int(cumulative) / 1e6))
    return sorted(top_level, key=lambda r: -r[1])[:top]


def package_size(stage: str) -> dict | None:
    path = PROJECT / "out" / stage / "deployment.zip"
    if not path.exists():
        return None
    with zipfile.ZipFile(path) as z:
        unzipped = sum(i.file_size for i in z.infolist())
        files = len(z.infolist())
    return {"path": str(path.relative_to(PROJECT)), "zipped_bytes": path.stat().st_size, "unzipped_bytes": unzipped,
            "files": files}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per app (median reported)")
    parser.add_argument("--stage", default="dev", help="whose environment and package (default dev)")
    args = parser.parse_args(argv)
    env = stage_environment(args.stage)
    with tempfile.TemporaryDirectory() as bare:
        Path(bare, "app.py").write_text(BARE_APP)
        ours, theirs = [], []
        import_seconds(PROJECT, env)  # warm the file cache once, as a deployed sandbox's disk is
        for _ in range(args.runs):
            ours.append(import_seconds(PROJECT, env))
            theirs.append(import_seconds(Path(bare), env))
    mine, bare_median = statistics.median(ours), statistics.median(theirs)
    print(f"import app (median of {args.runs} fresh interpreters, stage {args.stage} environment)")
    print(f"  karmayogi-engage app.py  {mine * 1000:8.1f} ms   (min {min(ours) * 1000:.1f}, max {max(ours) * 1000:.1f})")
    print(f"  bare Chalice app         {bare_median * 1000:8.1f} ms   (min {min(theirs) * 1000:.1f}, max {max(theirs) * 1000:.1f})")
    print(f"  difference               {(mine - bare_median) * 1000:8.1f} ms   ({mine / bare_median:.1f}x)")
    print("heaviest imports made by app.py itself (python -X importtime, cumulative):")
    for name, seconds in heaviest_imports(env):
        print(f"  {name:40s} {seconds * 1000:8.1f} ms")
    print(f"imported on a handler's first call, after import app (median of {args.runs}):")
    for handler, modules in FIRST_CALL.items():
        seconds = statistics.median(first_call_seconds(modules, env) for _ in range(args.runs))
        print(f"  {handler:40s} {seconds * 1000:8.1f} ms")
    size = package_size(args.stage)
    if size:
        print(f"deployment package {size['path']}: {size['zipped_bytes'] / 2**20:.1f} MiB zipped, "
              f"{size['unzipped_bytes'] / 2**20:.1f} MiB unzipped ({size['files']} files; Lambda allows 50 MiB "
              f"zipped for a direct upload, 250 MB unzipped)")
    else:
        print(f"deployment package: none yet, run `make package STAGE={args.stage}` first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
