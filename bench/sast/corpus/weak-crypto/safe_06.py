import secrets


def reset_token():
    token = secrets.token_urlsafe(24)
    return token
