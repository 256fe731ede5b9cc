def message(name):
    greeting = "Hello, %s" % name
    print(greeting)
    return greeting
