"""Appends the project's installed dependencies AFTER the running tool's own packages.

A tool (Pynguin, CrossHair) runs from its own environment but imports the project,
which needs the project's dependencies. PYTHONPATH would put them in front of the
tool's pinned packages; appending here keeps the tool's versions first. Every Python
process started in the sandbox (including the tools' subprocesses) runs this.
"""

import os
import site

for _path in filter(None, os.environ.get("TFACTORY_EXTRA_SITE", "").split(os.pathsep)):
    site.addsitedir(_path)
