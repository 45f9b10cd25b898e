#!/usr/bin/env python3
"""Name the people in a video file, frame by frame, from numpy arrays (no webcam needed).

    python3 video.py VIDEO KNOWN_DIR [--every N]

KNOWN_DIR holds one photo per person, named after them (ada.jpg). Frames come from the
`ffmpeg` command as raw BGR bytes, the layout OpenCV's VideoCapture gives too, so they are
handed to facet with the channel order said: facet.Image.from_array(frame, "bgr").
Prints, per person, the frames where they were recognised.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

import facet


def frames(path: str, every: int):
    """(index, HxWx3 uint8 BGR array) for every `every`-th frame of the video."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    width, height = map(int, probe.stdout.split(",")[:2])
    proc = subprocess.Popen(["ffmpeg", "-v", "error", "-i", path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
                            stdout=subprocess.PIPE)
    size, i = width * height * 3, 0
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            if i % every == 0:
                yield i, np.frombuffer(buf, np.uint8).reshape(height, width, 3)
            i += 1
    finally:
        proc.stdout.close()
        if proc.wait() != 0:
            raise RuntimeError("ffmpeg failed on %s" % path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video")
    ap.add_argument("known_dir")
    ap.add_argument("--every", type=int, default=5, help="look at every N-th frame (default 5)")
    args = ap.parse_args()

    sdk = facet.SDK()
    gallery = facet.Gallery("memory:")
    for name in sorted(os.listdir(args.known_dir)):
        gallery.enroll("known", os.path.splitext(name)[0], sdk.faceprint(os.path.join(args.known_dir, name)))

    seen = {}
    n = 0
    for index, bgr in frames(args.video, args.every):
        n += 1
        for _, fp in sdk.faceprints(facet.Image.from_array(bgr, "bgr")):
            best = gallery.identify("known", fp)[0]
            if best.similarity >= facet.match_threshold():
                seen.setdefault(best.identity, []).append(index)
    print("looked at %d frames" % n)
    for person in sorted(gallery.identities("known")):
        where = seen.get(person, [])
        print("%s: %d frames%s" % (person, len(where), (" (first %d, last %d)" % (where[0], where[-1])) if where else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
