"""The Python package's tests, the way a user gets it: pip-installed, then pytest, printing TAP.

1. A throwaway venv (--system-site-packages for Debian's numpy and pytest, --without-pip: the
   system pip serves it) gets `pip install --no-index bindings/python`: offline, with build
   isolation, so the in-tree backend must need nothing from PyPI. FACET_LIB (set by meson to
   this build's libfacet.so) is copied into the wheel.
2. pytest runs bindings/python/tests under the venv's interpreter from a temporary folder with
   FACET_LIB unset, so `import facet` must find the installed package and its library by itself
   (test_install.py checks both paths).
3. Each test's result is one TAP line on stdout (pytest's own report goes to stderr), so
   scripts/tap-count.py counts individual tests; a crash shows as a short plan.
In a cross build (tests/meson.build), FACET_CROSS_PYTHON is the target's python3 (Debian's, in
the sysroot that scripts/cross-test.sh unpacks) and FACET_CROSS_RUN the qemu-user command: the
venv is made by that interpreter, and its bin/python* become scripts that run it under qemu
with argv[0] set to the script, so that sys.executable names the script and every subprocess
the tests start with sys.executable (pip's build backend, the examples) runs under qemu too:
without binfmt_misc, which containers lack, this machine cannot exec an arm64 program itself.
Usage: run-python-tests.py [ABI_EXE [FACETD]]  (see tests/meson.build)
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class Tap:
    """pytest plugin: one TAP line per test (setup, call and teardown together)."""

    def __init__(self, out):
        self.out, self.n, self.reports, self.collect_errors = out, 0, {}, []

    def emit(self, ok, name, directive="", details=""):
        self.n += 1
        self.out.write("%s %d - %s%s\n" % ("ok" if ok else "not ok", self.n, name, directive))
        for line in details.splitlines()[-60:]:
            self.out.write("#   %s\n" % line)
        self.out.flush()

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(report)

    def pytest_collection_finish(self, session):
        self.out.write("1..%d\n" % (len(session.items) + len(self.collect_errors)))
        for r in self.collect_errors:
            self.emit(False, "collect " + r.nodeid, details=str(r.longrepr))

    def pytest_runtest_logreport(self, report):
        self.reports.setdefault(report.nodeid, []).append(report)

    def pytest_runtest_logfinish(self, nodeid, location):
        reports = self.reports.pop(nodeid, [])
        failed = [r for r in reports if r.failed]
        skipped = [r for r in reports if r.skipped]
        if failed:
            self.emit(False, nodeid, details="\n".join(str(r.longrepr) for r in failed))
        elif skipped:
            reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else "skipped"
            self.emit(True, nodeid, " # SKIP " + reason.replace("Skipped: ", ""))
        else:
            self.emit(True, nodeid)


def run_pytest(test_dir):
    import pytest

    tap = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # pytest's report to stderr; stdout carries only TAP
    return pytest.main([test_dir, "-q", "-p", "no:cacheprovider", "-o", "console_output_style=classic"],
                       plugins=[Tap(tap)])


def fail(name, log):
    print("1..1\nnot ok 1 - %s" % name)
    for line in log.splitlines()[-40:]:
        print("#   " + line)
    return 1


def emulated_venv_pythons(venv, run, target):
    """Replaces the venv's interpreter links with scripts that run the target's python under
    `run` (qemu-user), argv[0] being the script: python finds its venv (pyvenv.cfg) from argv[0]."""
    bindir = os.path.join(venv, "bin")
    for name in os.listdir(bindir):
        path = os.path.join(bindir, name)
        if not name.startswith("python") or not os.path.islink(path):
            continue
        os.unlink(path)
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec %s -0 '%s' '%s' \"$@\"\n" % (" ".join(run), path, target))
        os.chmod(path, 0o755)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--pytest":
        return run_pytest(sys.argv[2])
    target = os.environ.get("FACET_CROSS_PYTHON")
    run = os.environ.get("FACET_CROSS_RUN", "").split() if target else []
    tmp = tempfile.mkdtemp(prefix="facet-py-")
    try:
        venv = os.path.join(tmp, "venv")
        r = subprocess.run(run + [target or "/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip",
                                  venv], capture_output=True, text=True)
        if r.returncode:
            return fail("python3 -m venv", r.stdout + r.stderr)
        if target:
            emulated_venv_pythons(venv, run, target)
        python = os.path.join(venv, "bin", "python")
        r = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-cache-dir", "-q",
                            os.path.join(REPO, "bindings", "python")], capture_output=True, text=True)
        if r.returncode:
            return fail("pip install --no-index bindings/python", r.stdout + r.stderr)
        env = dict(os.environ, FACET_EXPECT_PREFIX=venv, FACET_TEST_DATA=os.path.join(REPO, "..", "shared", "data"))
        env.pop("FACET_LIB", None)
        env.pop("PYTHONPATH", None)
        if len(sys.argv) > 1:
            env["FACET_ABI_EXE"] = os.path.abspath(sys.argv[1])
        if len(sys.argv) > 2:
            env["FACET_FACETD"] = os.path.abspath(sys.argv[2])
        sys.stdout.flush()
        return subprocess.run([python, os.path.abspath(__file__), "--pytest",
                               os.path.join(REPO, "bindings", "python", "tests")], env=env, cwd=tmp).returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
