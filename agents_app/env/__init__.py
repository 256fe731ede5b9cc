"""The environments a task runs in: the project's cached environment (project.py), TFactory's
tool environments (tools/), a task's runtime in its sandbox (runtime.py), the
per-language tool table (languages.py) and the requirements-file reader (requirements.py)."""
