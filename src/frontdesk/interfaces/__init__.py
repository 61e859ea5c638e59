"""The contracts between the app server and the app: ASGI (``asgi/``) and WSGI (``wsgi/``)."""
