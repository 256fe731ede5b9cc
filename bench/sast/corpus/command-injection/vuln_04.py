import os


def word_count(path):
    return os.popen("wc -l " + path).read()
