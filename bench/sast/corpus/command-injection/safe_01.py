import subprocess


def archive(folder):
    subprocess.run(["tar", "czf", "backup.tgz", folder], check=True)
