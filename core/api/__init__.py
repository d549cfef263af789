"""The REST API: the server (``kavlan-api``) that holds the switch credentials, and the client that the faces use in remote mode."""
