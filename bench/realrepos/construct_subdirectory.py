#!/usr/bin/env python3
"""Build the CONSTRUCTED "subdirectory" layout used by target `python-slugify-9.1.1-subdir`.

No sdist surveyed ships its package in a subfolder with its own pyproject/setup.py
(an sdist is always rooted at the package), so this target is constructed: the
extracted sdist tree of a release is placed under `packages/python-slugify/` of a
small monorepo-like root that has no Python packaging files of its own.

    construct_subdirectory.py SDIST_TAR_GZ DEST_DIR

Resulting tree (repo root = DEST_DIR):
    README.md                      monorepo readme, no pyproject/setup.py/tox.ini at root
    docs/index.md                  unrelated content
    tools/lint.sh                  unrelated content
    packages/python-slugify/...    the untouched sdist tree (pyproject.toml, setup.py,
                                   slugify/, tests/)

Run the base (A = 9.1.0) and feature (B = 9.1.1) sdists through this script to get
the two states; the tests are run from inside packages/python-slugify.
"""

import os
import shutil
import sys
import tarfile
import tempfile

ROOT_README = """# slugify-monorepo

Constructed benchmark layout: the Python package lives in `packages/python-slugify/`
(it has its own pyproject.toml and setup.py); the repository root has no Python
packaging files.
"""


def main(sdist: str, dest: str) -> None:
    if os.path.exists(dest):
        sys.exit(f"{dest} exists")
    os.makedirs(os.path.join(dest, "packages"))
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(sdist) as tf:
            tf.extractall(tmp, filter="data")  # no links or paths out of tmp
        (inner,) = os.listdir(tmp)
        shutil.move(os.path.join(tmp, inner), os.path.join(dest, "packages", "python-slugify"))
    with open(os.path.join(dest, "README.md"), "w") as f:
        f.write(ROOT_README)
    os.makedirs(os.path.join(dest, "docs"))
    with open(os.path.join(dest, "docs", "index.md"), "w") as f:
        f.write("# Docs\n\nSee packages/python-slugify/README.md.\n")
    os.makedirs(os.path.join(dest, "tools"))
    with open(os.path.join(dest, "tools", "lint.sh"), "w") as f:
        f.write("#!/bin/sh\ncd packages/python-slugify && python -m flake8 slugify\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
