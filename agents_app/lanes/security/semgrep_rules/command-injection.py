import asyncio
import os
import shlex
import subprocess
import sys


def print_invoice(path):
    # ruleid: command-injection
    os.system("lpr " + path)
    # ruleid: command-injection
    subprocess.run(f"gzip {path}", shell=True, check=True)
    cmd = "tar czf backup.tgz %s" % path
    # ruleid: command-injection
    subprocess.call(cmd, shell=True)
    # ruleid: command-injection
    return os.popen("cat " + path).read()


def from_argv():
    # ruleid: command-injection
    subprocess.check_output("ls " + sys.argv[1], shell=True)


async def spawn(name):
    # ruleid: command-injection
    await asyncio.create_subprocess_shell("echo " + name)


def safe(path, count):
    # ok: command-injection
    subprocess.run(["lpr", path], check=True)
    # ok: command-injection
    os.system("lpr " + shlex.quote(path))
    # ok: command-injection
    subprocess.run("ls -l", shell=True)
    # ok: command-injection
    subprocess.run(f"head -n {int(count)} log.txt", shell=True)
    # ok: command-injection
    subprocess.run(["gzip", path], shell=False)
