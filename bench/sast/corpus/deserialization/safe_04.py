import pickle


def save_session(state):
    return pickle.dumps(state)
