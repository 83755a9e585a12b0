"""A real Ray cluster on this machine, for the cluster tests and ``benchmarks/scale_ray.py``: a
head node and worker nodes started with ``ray start``, each in its own process session so that it
(and only it) can be stopped, or killed as a machine going down would be."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
PROBE = ("import ray; ray.init(address=%r, logging_level='ERROR'); "
         "print('NODES', sum(n['Alive'] for n in ray.nodes()))")


class LocalCluster:
    """Nodes started one at a time, each waited for; a node whose start fails (on a loaded machine
    a raylet can give up while starting) is stopped and started again, ``restarts`` counts those.
    ``env`` is the nodes' environment (default: this process's)."""

    def __init__(self, env: dict | None = None):
        self.temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths have a limit
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**(os.environ if env is None else env), "RAY_USAGE_STATS_ENABLED": "0"}
        self.nodes: list[subprocess.Popen] = []
        self.restarts = 0

    def start(self, *args: str, wait_for: int, tries: int = 3) -> subprocess.Popen:
        """Start a node and wait until the cluster has ``wait_for`` live nodes."""
        for attempt in range(tries):
            log = open(Path(self.temp) / f"start-{len(self.nodes)}-{attempt}.log", "w")
            node = subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=self.env)
            log.close()
            self.nodes.append(node)
            if self.wait(wait_for, node):
                return node
            self.kill(node)
            self.restarts += 1
        raise RuntimeError(f"the local Ray cluster did not reach {wait_for} nodes in {tries} tries")

    def head(self, cpus: int = 1) -> None:
        self.start("--head", f"--port={self.port}", f"--temp-dir={self.temp}", "--include-dashboard=false",
                   f"--num-cpus={cpus}", wait_for=1)

    def worker(self, cpus: int = 1) -> subprocess.Popen:
        return self.start(f"--address={self.address}", f"--num-cpus={cpus}", wait_for=len(self.nodes) + 1)

    def alive(self) -> int:
        result = subprocess.run([sys.executable, "-c", PROBE % self.address], capture_output=True, text=True,
                                timeout=120, env=self.env)
        found = re.search(r"NODES (\d+)", result.stdout)
        return int(found.group(1)) if found else 0

    def wait(self, nodes: int, node: subprocess.Popen, timeout: float = 180) -> bool:
        """Whether the cluster reaches ``nodes`` live nodes while ``node`` runs."""
        deadline = time.time() + timeout
        while time.time() < deadline and node.poll() is None:
            if self.alive() >= nodes:
                return True
            time.sleep(2)
        return False

    @staticmethod
    def kill(node: subprocess.Popen, sig=signal.SIGKILL) -> None:
        """Signal every process of ``node``: its raylet and the workers the raylet started (in
        process groups of their own, but all in the session of the node's `ray start`)."""
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                if os.getsid(pid) == node.pid:
                    os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.kill(node, signal.SIGTERM)
        deadline = time.time() + 10
        for node in self.nodes:
            try:
                node.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for node in self.nodes:  # whatever is left of each node (its session) goes
            self.kill(node)
        shutil.rmtree(self.temp, ignore_errors=True)
