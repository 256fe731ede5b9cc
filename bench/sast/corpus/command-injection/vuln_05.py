import subprocess


def git_log(branch):
    cmd = "git log --oneline " + branch
    return subprocess.getoutput(cmd)
