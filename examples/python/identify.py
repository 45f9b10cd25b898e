#!/usr/bin/env python3
"""Enrol a folder of people, then name every face in some photos: the whole job in a page.

    python3 identify.py ENROLL_DIR PHOTO... [--db sqlite:faces.db]

ENROLL_DIR holds one folder per person (ENROLL_DIR/ada/1.jpg, ...). Faces whose best match is
below facet's threshold are "unknown". Photos may also come from numpy, e.g. an OpenCV frame:
facet.Image.from_array(frame, "bgr"). Needs no camera: try it on ../shared/data/gallery.
"""
import argparse
import os
import sys

import facet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("enroll_dir")
    ap.add_argument("photos", nargs="+")
    ap.add_argument("--db", default="memory:", help="store URL (default memory:, e.g. sqlite:faces.db)")
    args = ap.parse_args()

    sdk = facet.SDK()
    gallery = facet.Gallery(args.db)
    for person in sorted(os.listdir(args.enroll_dir)):
        folder = os.path.join(args.enroll_dir, person)
        for name in sorted(os.listdir(folder)):
            try:
                gallery.enroll("people", person, sdk.faceprint(os.path.join(folder, name)))
            except facet.Error as e:  # no face, unreadable file: say so and go on
                print("skipped %s: %s" % (os.path.join(folder, name), e), file=sys.stderr)
    print("enrolled %d faceprints of %d people" % (gallery.count("people"), len(gallery.identities("people"))))

    for photo in args.photos:
        for face, fp in sdk.faceprints(photo):
            best = gallery.identify("people", fp, k=1)[0]
            name = best.identity if best.similarity >= facet.match_threshold() else "unknown"
            x, y, w, h = face.box
            print("%s: %s at (%.0f, %.0f, %.0f, %.0f), similarity %.2f, probability %.2f"
                  % (os.path.basename(photo), name, x, y, w, h, best.similarity, best.probability))
    return 0


if __name__ == "__main__":
    sys.exit(main())
