"""Sweeps beyond one process tree: a real two-node Ray cluster (both nodes on loopback, each with its
own raylet and resources) and submitit's local executor, each running a 4-job sweep to the end."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import run_cli, tiny_overrides

SEEDS = "seed=0,1,2,3"


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def ray_start(*args: str) -> None:
    ray = str(Path(sys.executable).with_name("ray"))
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.run([ray, "start", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
                           *args], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def node_ports() -> list[str]:
    """Ports that two nodes on one host would otherwise both claim (each node's agents)."""
    agent, grpc, metrics, runtime_env = free_ports(4)
    return [f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={grpc}",
            f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={runtime_env}"]


@pytest.fixture
def two_node_ray_cluster():
    """The address of a Ray cluster of two nodes with one CPU each, stopped afterwards."""
    (port,) = free_ports(1)
    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # Ray's socket paths must stay short
    try:
        ray_start("--head", f"--port={port}", f"--temp-dir={temp}", "--include-dashboard=false", *node_ports())
        ray_start(f"--address=127.0.0.1:{port}", *node_ports())
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], capture_output=True,
                       timeout=180)
        shutil.rmtree(temp, ignore_errors=True)


def four_jobs(tmp_path, data_dir, name, *launcher):
    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith("paths.output_dir")]
    proc = run_cli("train.py", ["-m", *common, "dataset.train_subset=300", "callbacks.images=null",
                                f"paths.log_dir={tmp_path}", f"sweep_name={name}", SEEDS, *launcher])
    assert proc.returncode == 0, proc.stderr[-4000:]
    root = tmp_path / "multirun" / name
    jobs = {p.parent.name: json.loads(p.read_text()) for p in root.glob("*/metrics.json")}
    assert len(jobs) == 4 and all(j["status"] == "completed" for j in jobs.values()), jobs
    assert json.loads((root / "sweep_summary.json").read_text())["completed"] == 4
    return jobs


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_a_sweep_runs_on_both_nodes_of_a_ray_cluster(tmp_path, data_dir, two_node_ray_cluster):
    import ray

    jobs = four_jobs(tmp_path, data_dir, "cluster", "hydra/launcher=ray_cluster", "hydra.launcher.ray.remote.num_gpus=0",
                     f"hydra.launcher.ray.init.address={two_node_ray_cluster}")
    ray.init(address=two_node_ray_cluster, configure_logging=False, include_dashboard=False)
    try:
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    finally:
        ray.shutdown()
    assert len(nodes) == 2
    ran_on = {j["where"]["ray_node_id"] for j in jobs.values()}
    assert ran_on == nodes  # one CPU a node and four jobs: both nodes took jobs
    assert len({j["metrics"]["val/elbo"] for j in jobs.values()}) == 4


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_a_sweep_runs_through_submitit_local_jobs(tmp_path, data_dir):
    jobs = four_jobs(tmp_path, data_dir, "submitit", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=20",
                     "hydra.launcher.cpus_per_task=1", "hydra.launcher.gpus_per_node=0")
    assert len({j["where"]["submitit_local_job_id"] for j in jobs.values()}) == 4  # four scheduled jobs
    assert all(j["where"]["pid"] != os.getpid() for j in jobs.values())
