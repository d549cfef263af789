"""The API's handlers, one module per resource; ``routes.py`` maps paths to them."""
