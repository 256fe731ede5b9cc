import subprocess


def git_log(branch):
    return subprocess.run(["git", "log", "--oneline", branch], capture_output=True).stdout
