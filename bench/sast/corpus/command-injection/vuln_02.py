import subprocess


def convert(src, dest):
    subprocess.run(f"convert {src} {dest}", shell=True, check=True)
