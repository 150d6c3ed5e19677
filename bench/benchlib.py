"""Helpers shared by the bench/*/bench.py scripts: the `.venv-bench` virtualenv of the peers,
one timed run of a command (wall time and peak memory), JSON read back from a command's
output, a throwaway PostgreSQL, the work folder, wrk, percentiles, the figures file and the
load-average line. Standard library
only."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv-bench")
VENV_PY = os.path.join(VENV, "bin", "python")
GNU_TIME = "/usr/bin/time"
POSTGRES_SH = os.path.join(REPO, "scripts", "postgres.sh")


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo), for the figures' machine line."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


def cpu_flags(wanted):
    """Which of `wanted` (flag names as /proc/cpuinfo spells them) this CPU has."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


def say(msg=""):
    print(msg, flush=True)


def ensure_venv(requirements, imports):
    """Reuse .venv-bench (created if needed); install `requirements` into it when `imports`
    (a Python statement) fails there. Returns its python."""
    if os.path.exists(VENV_PY):
        if subprocess.run([VENV_PY, "-c", imports], capture_output=True).returncode == 0:
            return VENV_PY
        say("%s lacks some of %s: installing them" % (VENV, os.path.relpath(requirements, REPO)))
    else:
        say("creating %s" % VENV)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-r", requirements], check=True)
    return VENV_PY


def tail(path, n):
    """The last n lines of a file."""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()[-n:]


def last_json_object(text):
    """The last line of text that parses as a JSON object, else the whole text, else None."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else None
    except ValueError:
        return None


def measure(name, cmd, log_path, cwd=REPO):
    """Run cmd once, alone; return dict(ok, rc, wall_s, peak_mib, log). Peak memory from GNU
    time when installed, else from the rusage of a fresh wrapper process."""
    with open(log_path, "wb") as log:
        if os.access(GNU_TIME, os.X_OK):
            tfile = log_path + ".time"
            full = [GNU_TIME, "-v", "-o", tfile] + cmd
            t0 = time.perf_counter()
            rc = subprocess.run(full, cwd=cwd, stdout=log, stderr=subprocess.STDOUT).returncode
            wall = time.perf_counter() - t0
            peak_kib = None
            try:
                with open(tfile) as f:
                    text = f.read()
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
                peak_kib = int(m.group(1)) if m else None
                m = re.search(r"Exit status: (\d+)", text)
                if m:
                    rc = int(m.group(1))
            except OSError:
                pass
        else:
            # fresh wrapper process: its RUSAGE_CHILDREN covers this one command only
            wrapper = ("import resource, subprocess, sys, time\n"
                       "t0 = time.perf_counter()\n"
                       "rc = subprocess.run(sys.argv[2:]).returncode\n"
                       "wall = time.perf_counter() - t0\n"
                       "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
                       "open(sys.argv[1], 'w').write('%d %d %f' % (rc, ru.ru_maxrss, wall))\n")
            rfile = log_path + ".rusage"
            subprocess.run([sys.executable, "-c", wrapper, rfile] + cmd, cwd=cwd,
                           stdout=log, stderr=subprocess.STDOUT)
            try:
                rc_s, kib_s, wall_s = open(rfile).read().split()
                rc, peak_kib, wall = int(rc_s), int(kib_s), float(wall_s)
            except (OSError, ValueError):
                rc, peak_kib, wall = 1, None, float("nan")
    res = {"ok": rc == 0, "rc": rc, "wall_s": round(wall, 3),
           "peak_mib": round(peak_kib / 1024, 1) if peak_kib is not None else None,
           "log": log_path}
    if rc != 0:
        say("%s FAILED (exit %d); last lines of %s:" % (name, rc, log_path))
        for line in tail(log_path, 20):
            say("    " + line)
    return res


def start_postgres(pgdir):
    """scripts/postgres.sh start PGDIR; returns its postgres:// URL. As root the server runs as
    sluice-pg, which must reach PGDIR: its folder (mkdtemp makes them 0700) is opened to it."""
    if os.geteuid() == 0:
        os.chmod(os.path.dirname(os.path.abspath(pgdir)), 0o755)
    cp = subprocess.run([POSTGRES_SH, "start", pgdir], cwd=REPO, capture_output=True, text=True)
    url = next((line.strip() for line in reversed(cp.stdout.splitlines())
                if line.startswith("postgres://")), None)
    if cp.returncode != 0 or url is None:
        raise RuntimeError("scripts/postgres.sh start failed (exit %d):\n%s"
                           % (cp.returncode, (cp.stderr + cp.stdout)[-3000:]))
    return url


def stop_postgres(pgdir):
    """scripts/postgres.sh stop PGDIR, saying so when it fails."""
    cp = subprocess.run([POSTGRES_SH, "stop", pgdir], cwd=REPO, capture_output=True, text=True)
    if cp.returncode != 0:
        say("scripts/postgres.sh stop failed (exit %d): %s"
            % (cp.returncode, (cp.stderr + cp.stdout).strip()[-1000:]))


def say_load_average(before, after):
    """The line of the load average before and after the measured runs."""
    say("  (load average before / after: %s / %s on %d CPUs)" % (
        " ".join("%.2f" % x for x in before), " ".join("%.2f" % x for x in after),
        os.cpu_count()))


def write_figures(results, path):
    """Every figure as indented JSON into path (--out), when one is given."""
    if not path:
        return
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    say("figures written to %s" % path)


def start_sluice_serve(sluice, folder, log):
    """`sluice serve` on a free local port in `folder`; (process, base URL) from its
    "listening on" line. `log` (an open file) gets its standard error."""
    proc = subprocess.Popen([sluice, "serve", "--bind", "127.0.0.1:0", "--pipelines", "."],
                            cwd=folder, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline().strip()
    prefix = "sluice serve: listening on "
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError("sluice serve did not start: %r (log %s)" % (line, log.name))
    return proc, line[len(prefix):]


def work_folder(args, prefix):
    """The bench's work folder and whether to keep it: `--workdir` (created, always kept), else
    a new temporary folder named PREFIX…, kept with `--keep`."""
    tmp = args.workdir or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(tmp, exist_ok=True)
    return tmp, args.keep or bool(args.workdir)


def leave_work_folder(tmp, keep):
    """At the end of a bench: says where its work folder is kept, or removes it."""
    if keep:
        say("work folder kept: %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def pct(values, p):
    """The p-th percentile (nearest rank) of values; NaN for none."""
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] if s else float("nan")


def ensure_wrk():
    """wrk's path; apt-get installs Debian's package when missing."""
    if shutil.which("wrk") is None:
        say("installing wrk with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env).returncode:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True)
    return shutil.which("wrk")
