"""examples/python run as a user would run them (no camera needed), output checked."""
import os
import re
import subprocess
import sys

from conftest import REPO, data

EXAMPLES = os.path.join(REPO, "examples", "python")


def run(*args):
    env = dict(os.environ, FACET_NUM_THREADS="1")  # spinning pools must not fight the other tests
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, args[0])] + list(args[1:]), env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_identify_example(tmp_path):
    probes = sorted(os.path.join(data("gallery", "probe"), n) for n in os.listdir(data("gallery", "probe")))
    out = run("identify.py", data("gallery", "enroll"), *probes, "--db", "sqlite:" + str(tmp_path / "x.db"))
    assert "enrolled 9 faceprints of 5 people" in out
    named = re.findall(r"^(\S+): (\S+) at", out, re.M)
    expected = {("alex_lacamoire1.jpg", "alex_lacamoire"), ("johnsnow_test1.jpg", "kit_harington"),
                ("kit_with_rose.jpg", "kit_harington"), ("kit_with_rose.jpg", "rose_leslie"),
                ("obama1.jpg", "obama"), ("obama_and_biden.jpg", "obama"), ("obama_and_biden.jpg", "biden")}
    assert expected <= set(named), out
    assert all(name == "unknown" for photo, name in set(named) - expected), out


def test_video_example_from_numpy_bgr_frames():
    out = run("video.py", data("video", "hamilton_clip.mp4"), data("video", "known"), "--every", "10")
    assert "looked at 28 frames" in out, out
    frames = dict(re.findall(r"^(\w+): (\d+) frames", out, re.M))
    assert frames["alex_lacamoire"] == "0", out  # not in the clip
    assert int(frames["lin_manuel_miranda"]) >= 10, out  # on stage in most sampled frames


def readme_block(lang):
    with open(os.path.join(REPO, "README.md")) as f:
        return re.search(r"^```%s\n(.*?)^```" % lang, f.read(), re.M | re.S).group(1)


def test_readme_python_snippet(tmp_path):
    os.symlink(data("gallery", "enroll", "obama", "obama.jpg"), tmp_path / "a.jpg")
    os.symlink(data("gallery", "enroll", "obama", "obama2.jpg"), tmp_path / "b.jpg")
    env = dict(os.environ, FACET_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", readme_block("python")], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = re.search(r"\[Face\(box=.*\)\] \(([0-9.]+), ([0-9.]+)\)", r.stdout)
    assert m and float(m.group(1)) > 0.5 and float(m.group(2)) > 0.9, r.stdout
