import shlex
import subprocess


def convert(src, dest):
    subprocess.run(f"convert {shlex.quote(src)} {shlex.quote(dest)}", shell=True, check=True)
