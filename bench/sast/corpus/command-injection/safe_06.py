def describe(command):
    text = "would run: " + command
    print(text)
    return text
